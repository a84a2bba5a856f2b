"""Questions: write a test set (and training questions) from an index's documents as a background job,
then review it in a table: accept, edit or reject each question; the review is saved as a new file and
the generated one is never changed."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import common, job_panel
from workbench.jobs import start_job
from workbench.requests import QuestionsRequest
from workbench.session import Workbench

REVIEWS = ("accepted", "rejected")  # an edited question or answer is marked edited on saving


def write_form(bench: Workbench) -> None:
    cfg = bench.config
    st.subheader("Write questions from an index")
    names = [i["name"] for i in bench.list_indexes() if "error" not in i]
    if not names:
        st.info("Build an index of your documents first (Indexes page).")
        return
    left, middle, right, last = st.columns([3, 1, 3, 1])
    index = left.selectbox("Index", names)
    n = middle.number_input("Questions", min_value=1, value=50)
    model = right.text_input("Model that writes them", value=cfg.models.generator,
                             help="an embedded generator, a Hugging Face id or a folder")
    seed = last.number_input("Seed", value=cfg.training.seed)
    name = st.text_input("File name", value=f"{index}-questions", help=f"saved in {bench.questions_folder()}")
    roundtrip = st.checkbox("Keep only questions the writing model answers from their own chunk (round trip)",
                            help="more of the kept questions are right, but the set leans toward what this model can read")
    if st.button("Write questions", type="primary"):
        try:
            output = bench.questions_folder() / f"{common.check_name(name, 'file')}.jsonl"
            request = QuestionsRequest(index=index, output=output, n=int(n), model=model.strip() or None,
                                           seed=int(seed), roundtrip=roundtrip)
            job_panel.select(start_job(cfg, "generate-questions", request, title=f"{n} questions from '{index}'"))
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)


def review(bench: Workbench) -> None:
    files = sorted(bench.questions_folder().glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not files:
        return
    st.subheader("Review")
    path = st.selectbox("Questions file", files, format_func=lambda p: p.name)
    try:
        items = bench.read_questions(path)
    except Exception as exc:  # noqa: BLE001 - a file edited into an invalid state: say where
        common.show_error(exc)
        return
    show_report(bench, path)
    rows = [{"id": q.id, "question": q.question, "answer": q.answers[0], "review": "accepted" if q.review != "rejected" else "rejected",
             "document": q.doc_id, "kind": q.answer_kind, "retrieves its chunk": q.retrieves_own_chunk,
             "answered with its chunk": q.answered_with_chunk, "answered closed-book": q.answered_closed_book}
            for q in items]
    edited = st.data_editor(
        rows, key=f"review-{path.name}", hide_index=True, use_container_width=True,
        disabled=["id", "document", "kind", "retrieves its chunk", "answered with its chunk", "answered closed-book"],
        column_config={"review": st.column_config.SelectboxColumn("review", options=list(REVIEWS), required=True),
                       "question": st.column_config.TextColumn("question", width="large")})
    target = st.text_input("Save as", value=_next_name(path), help="a new file beside this one; this file is not changed")
    if st.button("Save the review", type="primary"):
        try:
            decisions = {}
            for item, row in zip(items, edited):
                changed = row["question"] != item.question or row["answer"] != item.answers[0]
                review_ = "rejected" if row["review"] == "rejected" else ("edited" if changed else "accepted")
                decisions[item.id] = {"review": review_, "question": row["question"] if changed else None,
                                      "answer": row["answer"] if changed else None}
            output = path.with_name(f"{common.check_name(target.removesuffix('.jsonl'), 'file')}.jsonl")
            if output.exists():
                raise FileExistsError(f"{output} exists: choose another name")
            saved, kept, rejected = bench.review_questions(path, decisions, output)
            st.success(f"Saved {kept} questions ({rejected} rejected) to {saved}")
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)


def show_report(bench: Workbench, path: Path) -> None:
    data = bench.question_report(path)
    if data is None:
        return
    cells = st.columns(4)
    cells[0].metric("Kept", f"{data['kept']} of {data['requested']}")
    shares = data.get("shares", {})
    for cell, (key, label) in zip(cells[1:], (("retrieves_own_chunk", "Retrieve their own chunk"),
                                             ("answered_with_chunk", "Answered with their chunk"),
                                             ("answered_closed_book", "Answered closed-book"))):
        value = shares.get(key)
        cell.metric(label, "-" if value is None else f"{value:.0%}")
    with st.expander(f"Checks ({len(data['rejected'])} written questions rejected) and notes"):
        st.dataframe([{"check": name, **counts} for name, counts in data["filters"].items()], hide_index=True)
        for note in data.get("shortfall", []):
            st.warning(common.as_markdown_text(note))
        st.dataframe([{"answer": r["answer"], "question": r["question"], "failed": ", ".join(r["failed"])}
                      for r in data["rejected"]], hide_index=True, use_container_width=True)


def _next_name(path: Path) -> str:
    stem, number = path.stem.removesuffix(".reviewed"), 1
    while True:
        name = f"{stem}.reviewed" + (f"-{number}" if number > 1 else "")
        if not path.with_name(f"{name}.jsonl").exists():
            return name
        number += 1


bench = common.session()
st.title("Questions")
st.caption("A test set from your own documents: an answer is picked in a chunk, the generator writes a question "
           "for it, and each question is checked. Review them here before scoring strategies on them.")
job = job_panel.selected()
if job is not None and job.kind == "generate-questions":
    job_panel.panel(job, chart=False)
write_form(bench)
st.divider()
review(bench)
