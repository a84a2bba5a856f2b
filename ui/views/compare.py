"""Compare: ask once, see every strategy answer side by side, with sources, demonstrations and prompt."""

from __future__ import annotations

import streamlit as st

from ui import common
from workbench.corpus import QAPair
from workbench.errors import Failure
from workbench.requests import StrategyOptions
from workbench.session import STRATEGY_NAMES, Workbench


def choose_question(bench: Workbench) -> QAPair | None:
    studies = [s for s in bench.list_studies() if s["questions"]]
    modes = ["Pick a demo question", *(["Pick a study question"] if studies else []), "Type a question"]
    mode = st.radio("Question", modes, horizontal=True, label_visibility="collapsed")
    if mode == "Type a question":
        text = st.text_input("Your question", placeholder="e.g. When were the Normans in Normandy?")
        return QAPair(id="", question=text, answers=()) if text.strip() else None
    if mode == "Pick a study question":
        return study_question(bench, studies)
    pairs = bench.demo_questions()
    pair = st.selectbox("Demo question", pairs, format_func=lambda p: f"{p.topic}: {p.question}")
    st.caption(f"Gold answer: {common.as_markdown_text(' | '.join(pair.answers))}")
    return pair


def study_question(bench: Workbench, studies: list[dict]) -> QAPair | None:
    """A question written from a study's documents, with its gold answer (ask it on that study's index)."""
    study = st.selectbox("Study", studies, format_func=lambda s: s["name"])
    path = st.selectbox("Questions file", study["questions"], format_func=lambda p: p.name)
    try:
        items = bench.read_questions(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file: say which
        common.show_error(exc)
        return None
    item = st.selectbox("Study question", items, format_func=lambda q: f"{q.doc_id}: {q.question}")
    where = f" · its study searched index '{study['index']}'" if study["index"] else ""
    st.caption(f"Gold answer: {common.as_markdown_text(item.answers[0])} · written from "
               f"{common.as_markdown_text(item.doc_id)}{common.as_markdown_text(where)}")
    return QAPair(item.id, item.question, tuple(item.answers), item.context, item.doc_id)


def settings(bench: Workbench):
    """The sidebar: which index, strategies and trained runs; a few settings. Returns the strategy
    names, the session with those settings, and the options."""
    cfg = bench.config
    with st.sidebar:
        indexes = [i["name"] for i in bench.list_indexes() if "error" not in i]
        index = st.selectbox("Index", indexes, index=indexes.index("demo") if "demo" in indexes else 0,
                             placeholder="no index yet: build one on the Indexes page") if indexes else None
        names = st.multiselect("Strategies", STRATEGY_NAMES, default=list(STRATEGY_NAMES))
        runs = bench.list_runs(kind="generator")
        labels = {run["name"]: run for run in runs}
        chosen = st.multiselect("Finetuned runs", list(labels), default=list(labels)[:1],
                                help=f"generator runs found under {cfg.training.output_root}")
        for name in chosen:  # what a run learnt decides what its answers can know: say it beside the index
            run = labels[name]
            st.caption(f"{common.as_markdown_text(name)} ({run['method']}) was trained on "
                       f"{common.as_markdown_text(run['source'])}")
            if run["index"] and index and run["index"] != index:
                st.warning(f"{common.as_markdown_text(name)} learnt from the corpus of index "
                           f"'{common.as_markdown_text(run['index'])}', not of '{common.as_markdown_text(index)}': "
                           "what it knows may not be in these documents")
        fields = {"retrieval.k": "Chunks retrieved (k)", "strategies.shots": "Few-shot demonstrations",
                  "generation.max_new_tokens": "Answer tokens"}
        values = {key: common.setting_input(st, key, label, bench) for key, label in fields.items()}
    options = StrategyOptions(index=index, adapters=tuple(f"{n}={labels[n]['path']}" for n in chosen))
    return names, bench.updated(values), options


def answer_all(bench: Workbench, names: list[str], options: StrategyOptions, pair: QAPair) -> list[tuple[str, object]]:
    """Every strategy in its own column, answers streaming in (generated together, see
    workbench.strategies.side_by_side); a failure stays in its column."""
    with st.spinner(f"Loading {bench.config.models.generator} and the strategies (slower the first time in this server)..."):
        stream = bench.ask(pair, names, options, stream=True)
    columns = st.columns(len(stream.labels))
    results: list = [None] * len(stream.labels)
    slots, pieces = {}, {}
    for position, (column, label) in enumerate(zip(columns, stream.labels)):
        with column:
            heading(label)
            slots[position], pieces[position] = st.empty(), []
    for position, item in stream:
        if isinstance(item, str):
            pieces[position].append(item)
            slots[position].text("".join(pieces[position]))
        else:
            results[position] = item
    for position, (column, result) in enumerate(zip(columns, results)):
        slots[position].empty()
        with column:
            show_answer(result, pair)
    return list(zip(stream.labels, results))


def heading(label: str) -> None:
    st.markdown(f"##### {common.as_markdown_text(label)}")


def show_answer(answer, pair: QAPair) -> None:
    if isinstance(answer, Failure):
        common.show_error(answer)
        return
    st.markdown(f"**{common.as_markdown_text(answer.text or '(empty)')}**")
    if pair.answers:
        scores = Workbench.score_answer(answer.text, pair.answers)
        st.caption(f"EM {scores['exact_match']:.0f} · F1 {scores['token_f1']:.2f} · "
                   f"contains gold {scores['answer_contained']:.0f}")
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


bench = common.session()
st.title("Compare")
st.caption("Ask once; every strategy answers side by side: zero-shot, few-shot, RAG, finetuned, RAG + finetuned.")
names, asking, options = settings(bench)
pair = choose_question(bench)
asked = st.button("Ask", type="primary", disabled=pair is None or not names)
if asked:
    try:
        st.session_state["compare"] = {"pair": pair, "results": answer_all(asking, names, options, pair)}
    except Exception as exc:  # noqa: BLE001 - shown, never a traceback
        common.show_error(exc)
elif "compare" in st.session_state:  # a rerun (any click) shows the last answers again
    shown = st.session_state["compare"]
    st.caption(f"Last question: {common.as_markdown_text(shown['pair'].question)}")
    for column, (label, answer) in zip(st.columns(len(shown["results"])), shown["results"]):
        with column:
            heading(label)
            show_answer(answer, shown["pair"])
