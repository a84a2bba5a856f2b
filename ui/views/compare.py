"""Compare: ask once, see every strategy answer side by side, with sources, demonstrations and prompt."""

from __future__ import annotations

import streamlit as st

from ui import common
from workbench.corpus import QAPair, load_demo_corpus
from workbench.demo import demo_questions
from workbench.evaluation.metrics import answer_contained, exact_match, token_f1
from workbench.indexing import list_indexes
from workbench.strategies import STRATEGY_NAMES, Answer, StrategyFactory, StrategyOptions
from workbench.strategies.base import as_pair
from workbench.training.runs import list_runs

RETRIEVING = ("rag", "rag+finetuned")
FINETUNED = ("finetuned", "rag+finetuned")


@st.cache_data(show_spinner=False)
def demo_pairs() -> list[QAPair]:
    """One held-out question per demo article (kept out of the demo adapter and the few-shot pool)."""
    return demo_questions(load_demo_corpus().qa_pairs, len(load_demo_corpus().topics()))


def choose_question() -> QAPair | None:
    mode = st.radio("Question", ["Pick a demo question", "Type a question"], horizontal=True,
                    label_visibility="collapsed")
    if mode == "Type a question":
        text = st.text_input("Your question", placeholder="e.g. When were the Normans in Normandy?")
        return QAPair(id="", question=text, answers=()) if text.strip() else None
    pairs = demo_pairs()
    pair = st.selectbox("Demo question", pairs, format_func=lambda p: f"{p.topic}: {p.question}")
    st.caption(f"Gold answer: {' | '.join(pair.answers)}")
    return pair


def settings(cfg):
    """The sidebar: which index, strategies and trained runs; a few generation settings."""
    with st.sidebar:
        indexes = [i["name"] for i in list_indexes(cfg.index.root) if "error" not in i]
        index = st.selectbox("Index", indexes, index=indexes.index("demo") if "demo" in indexes else 0,
                             placeholder="no index yet: build one on the Indexes page") if indexes else None
        names = st.multiselect("Strategies", STRATEGY_NAMES, default=list(STRATEGY_NAMES))
        runs = list_runs(cfg.training.output_root, kind="generator")
        labels = {run["name"]: run for run in runs}
        chosen = st.multiselect("Finetuned runs", list(labels), default=list(labels)[:1],
                                help=f"generator runs found under {cfg.training.output_root}")
        k = st.number_input("Chunks retrieved (k)", 1, 20, cfg.retrieval.k)
        shots = st.number_input("Few-shot demonstrations", 1, 10, cfg.strategies.shots)
        max_new = st.number_input("Answer tokens", 1, 512, cfg.generation.max_new_tokens)
    options = StrategyOptions(index=index, adapters=tuple(f"{n}={labels[n]['path']}" for n in chosen), k=int(k),
                              shots=int(shots), max_new_tokens=int(max_new))
    return names, options


def answer_all(cfg, names: list[str], options: StrategyOptions, pair: QAPair) -> list[tuple[str, Answer | str]]:
    """Every strategy in its own column, answers streaming in; a failure stays in its column."""
    with st.spinner(f"Loading {cfg.models.generator} (the first time in this server)..."):
        factory = StrategyFactory(cfg, options)
    built = []
    for name in names:
        try:
            built += [(s.label, s) for s in factory.build(name)]
        except Exception as exc:  # noqa: BLE001 - one broken strategy must not hide the others
            built.append((name, exc))
    columns = st.columns(len(built))
    results: list[tuple[str, Answer | str]] = []
    for column, (label, strategy) in zip(columns, built):
        with column:
            heading(label)
            if isinstance(strategy, Exception):
                results.append((label, describe(strategy)))
                st.error(results[-1][1])
                continue
            slot, pieces = st.empty(), []
            try:
                for item in strategy.stream(pair):
                    if isinstance(item, Answer):
                        results.append((label, item))
                    else:
                        pieces.append(item)
                        slot.text("".join(pieces))
            except Exception as exc:  # noqa: BLE001
                results.append((label, describe(exc)))
            slot.empty()
            show_answer(results[-1][1], pair)
    return results


def heading(label: str) -> None:
    st.markdown(f"##### {common.as_markdown_text(label)}")


def describe(exc: Exception) -> str:
    from workbench.errors import WorkbenchError

    return str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


def show_answer(answer: Answer | str, pair: QAPair) -> None:
    if isinstance(answer, str):
        st.error(answer)
        return
    st.markdown(f"**{common.as_markdown_text(answer.text or '(empty)')}**")
    if pair.answers:
        st.caption(f"EM {exact_match(answer.text, pair.answers):.0f} · F1 {token_f1(answer.text, pair.answers):.2f} · "
                   f"contains gold {answer_contained(answer.text, pair.answers):.0f}")
    st.caption(f"{answer.seconds:.2f} s (retrieval {answer.retrieval_seconds * 1000:.0f} ms) · "
               f"{answer.tokens_in} tokens in, {answer.tokens_out} out"
               + (f" · adapter {answer.adapter}" if answer.adapter else ""))
    if answer.sources:
        with st.expander(f"Sources ({len(answer.sources)})", expanded=True):
            for source in answer.sources:
                st.markdown(f"**[{source.number}] {common.as_markdown_text(source.doc_id)}** · score {source.score:.4f} · "
                            f"chars {source.start}-{source.end}")
                spans = {answer.text: "orange", **{gold: "green" for gold in pair.answers}}
                st.markdown(common.highlighted(source.text, spans))
            if answer.dropped_sources:
                st.caption(f"{len(answer.dropped_sources)} more retrieved but left out to fit the context window")
    if answer.demonstrations:
        with st.expander(f"Demonstrations ({len(answer.demonstrations)})"):
            for demo in answer.demonstrations:
                st.markdown(f"- {common.as_markdown_text(demo.question)} → {common.as_markdown_text(demo.answer)}")
    with st.expander("Prompt"):
        st.code(answer.prompt, language=None, wrap_lines=True)


cfg = common.config()
st.title("Compare")
st.caption("Ask once; every strategy answers side by side: zero-shot, few-shot, RAG, finetuned, RAG + finetuned.")
names, options = settings(cfg)
pair = choose_question()
asked = st.button("Ask", type="primary", disabled=pair is None or not names)
if asked:
    try:
        as_pair(pair)
        st.session_state["compare"] = {"pair": pair, "results": answer_all(cfg, names, options, pair)}
    except Exception as exc:  # noqa: BLE001 - shown, never a traceback
        common.show_error(exc)
elif "compare" in st.session_state:  # a rerun (any click) shows the last answers again
    shown = st.session_state["compare"]
    st.caption(f"Last question: {shown['pair'].question}")
    for column, (label, answer) in zip(st.columns(len(shown["results"])), shown["results"]):
        with column:
            heading(label)
            show_answer(answer, shown["pair"])
