"""Study: a folder of your documents to a verdict. Choose or upload the documents; index them and write
questions (a background job), see what each check kept and rejected, review the questions, run the study
(a background job: every strategy on the same held-out questions), and read the verdict, with the
predictions where strategies disagree and each answer's sources. Jobs survive closing the tab: the page
finds the latest study job again."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from ui import common, job_panel, question_review
from workbench.jobs import Job, list_jobs, start_job
from workbench.requests import StudyRequest
from workbench.session import Workbench

KINDS = ("study-questions", "study")


def choose_documents(bench: Workbench) -> tuple[list | Path | None, bool]:
    """The uploaded files or the server folder, and whether to run a quick (smoke) study."""
    cfg = bench.config
    source = st.radio("Documents", ("Upload files", "Server folder"), horizontal=True)
    if source == "Upload files":
        chosen = st.file_uploader("Files (HTML, PDF, Word, PowerPoint, Markdown, text)", type=cfg.ui.upload_types,
                                  accept_multiple_files=True, max_upload_size=cfg.ui.max_upload_mb)
    else:
        folder = st.text_input("Folder on the server", help="inside " + ", ".join(map(str, common.data_roots(cfg))))
        chosen = common.allowed_path(folder, cfg) if folder.strip() else None
    quick = st.checkbox("Quick check: a tiny study in a few minutes (to try the flow; its n is too small for a verdict)")
    return chosen or None, quick


def start_questions(bench: Workbench, chosen: list | Path, quick: bool) -> None:
    cfg = bench.config
    folder = chosen if isinstance(chosen, Path) else \
        common.save_uploads(chosen, cfg, common.unique_folder("study"))[0].parent
    request = StudyRequest(folder=folder, smoke=quick)
    job_panel.select(start_job(cfg, "study-questions", request, title=f"index and questions of {folder.name}"))


def latest_job(bench: Workbench) -> Job | None:
    """The job this page shows: the one chosen in this tab, else the newest study job (after a closed tab)."""
    job = job_panel.selected()
    if job is not None and job.kind in KINDS:
        return job
    found = [j for j in list_jobs(bench.config) if j.kind in KINDS]
    return max(found, key=lambda j: j.created_at) if found else None


def questions_step(bench: Workbench, job: Job) -> None:
    """The written questions: the checks' counts, the review table, and the button that runs the study."""
    request = StudyRequest(**job.request)
    path = Path(job.result["output"])
    st.subheader("2. Review the questions")
    question_review.show_report(bench, path)
    reviewed = question_review.review_table(bench, path)
    st.subheader("3. Run the study")
    chosen = reviewed or path
    st.caption(f"On {common.as_markdown_text(chosen.name)}: every strategy on the same held-out questions, in the "
               "knowledge and reading designs; the finetuned ones train first (this takes a while on a CPU).")
    if st.button("Run the study", type="primary"):
        try:
            study = request.model_copy(update={"questions": chosen})
            job_panel.select(start_job(bench.config, "study", study, title=f"study of {Path(request.folder).name}"))
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)


def verdict(bench: Workbench, folder: Path) -> None:
    """The report: the verdict in words, the plot, each design's table, the changed facts, and the
    predictions where strategies disagree, with their sources."""
    report = bench.read_study(folder)
    st.subheader("Verdict")
    st.markdown(common.as_markdown_text(report["verdict"]))
    if report.get("reindexed"):
        st.info(common.as_markdown_text(report["reindexed"]))
    if report.get("projection"):
        st.caption(common.as_markdown_text(report["projection"]["advice"]))
    if (folder / "study.png").is_file():
        st.image(str(folder / "study.png"))
    for design in report["designs"]:
        st.markdown(f"#### {design['design'].capitalize()} design")
        if "error" in design:
            common.show_error(design["error"])
            continue
        st.caption(common.as_markdown_text(f"{design['question']} {design['test']} questions evaluated, "
                                           f"{design['train']} to learn from."))
        st.dataframe([{"strategy": r["strategy"], "n": r["n"],
                       "token F1": None if r["error"] else round(r["token_f1"]["value"], 3),
                       "95 % interval": None if r["error"] else f"{r['token_f1']['low']:.3f} – {r['token_f1']['high']:.3f}",
                       "answer contained": None if r["error"] else round(r["answer_contained"]["value"], 3),
                       "setup (s)": r.get("setup_seconds"), "latency (s)": r.get("latency_seconds"),
                       "error": r["error"] or ""} for r in design["strategies"]], hide_index=True, use_container_width=True)
        for pair in sorted(design["comparisons"], key=lambda p: not p["significant"])[:5]:
            st.markdown("- " + common.as_markdown_text(pair["verdict"]))
        if design.get("changed") and design["changed"]["strategies"]:
            st.markdown("**When the documents change**: answers to the edited facts, asked again without retraining")
            st.dataframe([{"strategy": k, "new answer": v["new"], "old answer": v["old"], "asked": v["n"]}
                          for k, v in design["changed"]["strategies"].items()], hide_index=True)
        disagreements(Path(design["results"]))
    st.download_button("Download the report (Markdown)", (folder / "study.md").read_bytes(), file_name="study.md")


def disagreements(results: Path) -> None:
    """Per-question predictions of every strategy, only where they disagree, with the sources retrieved."""
    rows: dict[str, dict] = {}
    for file in sorted((results / "predictions").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            row = rows.setdefault(item["id"], {"question": item.get("question", ""), "gold": " | ".join(item["reference"])})
            label = file.stem
            row[label] = item["prediction"] + (f"  [{', '.join(item['sources'])}]" if item.get("sources") else "")
            row.setdefault("_right", set()).add(item["answer_contained"])
    split = [{k: v for k, v in row.items() if k != "_right"} for row in rows.values() if len(row["_right"]) > 1]
    with st.expander(f"Where strategies disagree ({len(split)} of {len(rows)} questions), with sources"):
        st.dataframe(split, hide_index=True, use_container_width=True)


bench = common.session()
st.title("Study")
st.caption("Your documents, every strategy, one verdict: which answers best on these documents, at what cost, "
           "and how sure we can be.")
job = latest_job(bench)
if job is not None:
    job_panel.panel(job, chart=False)
st.subheader("1. Your documents")
chosen, quick = choose_documents(bench)
if st.button("Index them and write questions", type="primary", disabled=chosen is None):
    try:
        start_questions(bench, chosen, quick)
        st.rerun()
    except Exception as exc:  # noqa: BLE001
        common.show_error(exc)
if job is not None and job.state == "completed" and job.kind == "study-questions":
    questions_step(bench, job)
if job is not None and job.state == "completed" and job.kind == "study":
    try:
        verdict(bench, Path(job.result["output"]))
    except Exception as exc:  # noqa: BLE001 - a report removed or damaged since: say which file
        common.show_error(exc)
