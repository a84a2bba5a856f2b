"""Compare: ask once, see every strategy answer side by side, with sources, demonstrations and prompt."""

from __future__ import annotations

import streamlit as st

from ui import common
from workbench.corpus import QAPair, load_demo_corpus
from workbench.demo import demo_questions
from workbench.evaluation.metrics import answer_contained, exact_match, token_f1
from workbench.indexing import list_indexes
from workbench.strategies import STRATEGY_NAMES, Answer, StrategyFactory, StrategyOptions, stream_together
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
    st.caption(f"Gold answer: {common.as_markdown_text(' | '.join(pair.answers))}")
    return pair


def settings(cfg):
    """The sidebar: which index, strategies and trained runs; a few settings. Returns the strategy
    names, the config with those settings, and the options."""
    with st.sidebar:
        indexes = [i["name"] for i in list_indexes(cfg.index.root) if "error" not in i]
        index = st.selectbox("Index", indexes, index=indexes.index("demo") if "demo" in indexes else 0,
                             placeholder="no index yet: build one on the Indexes page") if indexes else None
        names = st.multiselect("Strategies", STRATEGY_NAMES, default=list(STRATEGY_NAMES))
        runs = list_runs(cfg.training.output_root, kind="generator")
        labels = {run["name"]: run for run in runs}
        chosen = st.multiselect("Finetuned runs", list(labels), default=list(labels)[:1],
                                help=f"generator runs found under {cfg.training.output_root}")
        values = {"retrieval.k": st.number_input("Chunks retrieved (k)", min_value=1, value=cfg.retrieval.k),
                  "strategies.shots": st.number_input("Few-shot demonstrations", min_value=1, value=cfg.strategies.shots),
                  "generation.max_new_tokens": st.number_input("Answer tokens", min_value=1,
                                                               value=cfg.generation.max_new_tokens)}
    options = StrategyOptions(index=index, adapters=tuple(f"{n}={labels[n]['path']}" for n in chosen))
    return names, cfg.updated(values), options


def answer_all(cfg, names: list[str], options: StrategyOptions, pair: QAPair) -> list[tuple[str, Answer | str]]:
    """Every strategy in its own column, answers streaming in (generated together, see
    workbench.strategies.side_by_side); a failure stays in its column."""
    with st.spinner(f"Loading {cfg.models.generator} and the strategies (slower the first time in this server)..."):
        built = StrategyFactory(cfg, options).build_each(names)
    columns = st.columns(len(built))
    results: list[Answer | str | None] = [None] * len(built)
    slots, pieces, runnable = {}, {}, []
    for position, (column, (label, strategy)) in enumerate(zip(columns, built)):
        with column:
            heading(label)
            if isinstance(strategy, Exception):
                results[position] = common.describe(strategy)
            else:
                slots[position], pieces[position] = st.empty(), []
                runnable.append(position)
    for index, item in stream_together([built[p][1] for p in runnable], pair):
        position = runnable[index]
        if isinstance(item, str):
            pieces[position].append(item)
            slots[position].text("".join(pieces[position]))
        else:
            results[position] = item if isinstance(item, Answer) else common.describe(item)
    for position, (column, result) in enumerate(zip(columns, results)):
        if position in slots:
            slots[position].empty()
        with column:
            show_answer(result, pair)
    return [(label, result) for (label, _), result in zip(built, results)]


def heading(label: str) -> None:
    st.markdown(f"##### {common.as_markdown_text(label)}")


def show_answer(answer: Answer | str, pair: QAPair) -> None:
    if isinstance(answer, str):
        common.show_error(answer)
        return
    st.markdown(f"**{common.as_markdown_text(answer.text or '(empty)')}**")
    if pair.answers:
        st.caption(f"EM {exact_match(answer.text, pair.answers):.0f} · F1 {token_f1(answer.text, pair.answers):.2f} · "
                   f"contains gold {answer_contained(answer.text, pair.answers):.0f}")
    st.caption(f"{answer.seconds:.2f} s (retrieval {answer.retrieval_seconds * 1000:.0f} ms) · "
               f"{answer.tokens_in} tokens in, {answer.tokens_out} out"
               + (f" · adapter {common.as_markdown_text(answer.adapter)}" if answer.adapter else ""))
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
names, ask_cfg, options = settings(cfg)
pair = choose_question()
asked = st.button("Ask", type="primary", disabled=pair is None or not names)
if asked:
    try:
        as_pair(pair)
        st.session_state["compare"] = {"pair": pair, "results": answer_all(ask_cfg, names, options, pair)}
    except Exception as exc:  # noqa: BLE001 - shown, never a traceback
        common.show_error(exc)
elif "compare" in st.session_state:  # a rerun (any click) shows the last answers again
    shown = st.session_state["compare"]
    st.caption(f"Last question: {common.as_markdown_text(shown['pair'].question)}")
    for column, (label, answer) in zip(st.columns(len(shown["results"])), shown["results"]):
        with column:
            heading(label)
            show_answer(answer, shown["pair"])
