"""A background job on a page: progress bar, step/total, elapsed and remaining time, loss curve, cancel
and resume. It reads the job's folder every second, so a reload, a second tab or a restarted server
shows the same job; nothing about it lives in the page."""

from __future__ import annotations

import time

import streamlit as st

from ui import charts, common
from workbench.errors import Failure
from workbench.jobs import Job, cancel_job, read_job, resume_job

SELECTED = "selected_job"  # session key: the job a page shows (its folder path)
MESSAGE = "job_message"  # session key: an error from Cancel or Resume, shown after the rerun


def _act(action) -> None:
    """Run a button's action, then rerun the page; an error is kept to be shown after the rerun."""
    try:
        action()
    except Exception as exc:  # noqa: BLE001
        st.session_state[MESSAGE] = Failure.of(exc).describe()
    st.rerun()


def select(job: Job) -> None:
    st.session_state[SELECTED] = str(job.path)


def selected() -> Job | None:
    path = st.session_state.get(SELECTED)
    if not path:
        return None
    try:
        return read_job(path)
    except Exception:  # noqa: BLE001 - a removed job folder: show nothing
        return None


def panel(job: Job, chart: bool) -> None:
    """The job, refreshed every second while it is active."""
    if job.active:
        _live(str(job.path), chart)
    else:
        show(job, chart)


@st.fragment(run_every=1.0)
def _live(job_path: str, chart: bool) -> None:
    """Only this fragment reruns each second; once the job ends, the whole page reruns to show its result."""
    try:
        job = read_job(job_path)
    except Exception as exc:  # noqa: BLE001 - its folder was removed meanwhile
        common.show_error(exc)
        return
    show(job, chart)
    if not job.active:
        st.rerun()


def show(job: Job, chart: bool) -> None:
    state = {"completed": "✅ completed", "failed": "❌ failed", "cancelled": "⏹ cancelled",
             "cancelling": "⏳ cancelling", "running": "⏳ running", "starting": "⏳ starting"}[job.state]
    st.markdown(f"**{common.as_markdown_text(job.title)}** · {state} · job `{job.id}`")
    progress = job.progress
    if progress.get("total"):
        done, total = progress["done"], progress["total"]
        elapsed = (job.ended_at or time.time()) - (job.started_at or job.created_at)
        remaining = job.remaining_seconds()
        text = (f"{progress['stage']}: {done}/{total} · elapsed {elapsed:.0f} s"
                + (f" · about {remaining:.0f} s left" if remaining is not None else ""))
        st.progress(min(1.0, done / total), text=text)
    elif job.active:
        st.progress(0.0, text=f"{progress.get('stage', 'starting')}: loading...")
    if chart and (job.curve or job.evaluations):
        st.pyplot(charts.loss_curves({job.title: (job.curve, job.evaluations)}), clear_figure=True)
    if job.state == "failed":
        common.show_error(job.error or "failed")
    if job.state == "cancelled":
        st.warning("Cancelled. A training run keeps its last checkpoint: resume continues from there.")
    if MESSAGE in st.session_state:
        common.show_error(st.session_state.pop(MESSAGE))
    buttons = st.columns([1, 1, 6])
    if job.active and buttons[0].button("Cancel", key=f"cancel-{job.id}"):
        with st.spinner("Stopping after the current step..."):
            _act(lambda: cancel_job(job))
    if job.state in ("cancelled", "failed") and job.run_path is not None and buttons[1].button("Resume", key=f"resume-{job.id}"):
        _act(lambda: select(resume_job(job)))
    if not job.active and job.state != "completed":
        with st.expander("Log"):
            st.code("\n".join(job.log_tail(40)), language=None)
