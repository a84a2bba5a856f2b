"""Questions: write a test set (and training questions) from an index's documents as a background job,
then review it in a table: accept, edit or reject each question; the review is saved as a new file and
the generated one is never changed."""

from __future__ import annotations

import streamlit as st

from ui import common, job_panel, question_review
from workbench.jobs import start_job
from workbench.requests import QuestionsRequest
from workbench.session import Workbench


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
    question_review.show_report(bench, path)
    question_review.review_table(bench, path)


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
