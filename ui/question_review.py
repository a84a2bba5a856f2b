"""Generated questions on a page: the report of what each check kept and rejected, and the review table
(accept, edit, reject), saved as a new file; the generated file is never changed. The Questions and
Study pages both show them."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import common
from workbench.session import Workbench

REVIEWS = ("accepted", "rejected")  # an edited question or answer is marked edited on saving


def review_table(bench: Workbench, path: Path) -> Path | None:
    """The questions of `path` in an editable table and a button saving the review; returns the saved file
    once saved (also on later reruns of the page), else None."""
    try:
        items = bench.read_questions(path)
    except Exception as exc:  # noqa: BLE001 - a file edited into an invalid state: say where
        common.show_error(exc)
        return None
    rows = [{"id": q.id, "question": q.question, "answer": q.answers[0], "review": "accepted" if q.review != "rejected" else "rejected",
             "document": q.doc_id, "kind": q.answer_kind, "retrieves its chunk": q.retrieves_own_chunk,
             "answered with its chunk": q.answered_with_chunk, "answered closed-book": q.answered_closed_book}
            for q in items]
    edited = st.data_editor(
        rows, key=f"review-{path}", hide_index=True, use_container_width=True,
        disabled=["id", "document", "kind", "retrieves its chunk", "answered with its chunk", "answered closed-book"],
        column_config={"review": st.column_config.SelectboxColumn("review", options=list(REVIEWS), required=True),
                       "question": st.column_config.TextColumn("question", width="large")})
    saved_key = f"reviewed-{path}"
    target = st.text_input("Save as", value=_next_name(path), key=f"save-as-{path}",
                           help="a new file beside this one; this file is not changed")
    if st.button("Save the review", type="primary", key=f"save-{path}"):
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
            st.session_state[saved_key] = str(saved)
            st.success(f"Saved {kept} questions ({rejected} rejected) to {saved}")
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)
    return Path(st.session_state[saved_key]) if saved_key in st.session_state else None


def show_report(bench: Workbench, path: Path) -> None:
    """How many questions each check accepted and rejected, and the shares recorded for the kept ones."""
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
