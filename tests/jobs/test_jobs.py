"""Background jobs for real: their own processes, status on disk, cancel with a checkpoint, resume,
and a killed process reported as failed (never "running" forever)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from workbench.jobs import JobError, cancel_job, list_jobs, read_job, resume_job, start_job
from workbench.requests import ClassifierRequest, CompareRequest, IndexRequest


def wait_for(job, predicate, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = read_job(job.path)
        if predicate(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} stuck in {job.state}: {job.progress}\n" + "\n".join(job.log_tail(40)))


@pytest.fixture
def job_config(config, tmp_path):
    return config.updated({"ui.jobs_root": str(tmp_path / "jobs")})


def test_index_build_job_runs_in_its_own_process_and_reports_its_result(job_config, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(3):
        (docs / f"note{n}.txt").write_text(f"Note {n}: the harbour of Port {n} opens at dawn. " * 20)
    job = start_job(job_config, "build-index", IndexRequest(name="notes", paths=[docs]), title="notes")
    assert job.pid != os.getpid()
    done = wait_for(job, lambda j: not j.active)
    assert done.state == "completed", done.error
    assert done.result["index"] == "notes" and done.result["update"]["added"] == 3
    assert done.progress["stage"] == "embedding" and done.progress["done"] == done.progress["total"] > 0
    assert [j.id for j in list_jobs(job_config)] == [job.id]  # another page or a restarted server finds it


def test_cancelled_training_checkpoints_and_resumes_to_the_end(job_config):
    config = job_config.updated({"training.classifier.method": "head", "training.classifier.epochs": 4,
                                 "training.classifier.batch_size": 8, "training.classifier.max_length": 32,
                                 "training.checkpoint_every": 1000})
    job = start_job(config, "train-classifier", ClassifierRequest())
    assert job.run_path is not None  # fixed at start, so cancel and resume know it
    running = wait_for(job, lambda j: len(j.curve) >= 3 or not j.active)
    assert running.state == "running", running.error
    cancelled = cancel_job(running)
    assert cancelled.state == "cancelled"
    checkpoints = list((job.run_path / "checkpoints").glob("step-*"))
    assert checkpoints, "a cancelled run keeps a checkpoint between two steps"
    stopped_at = int(checkpoints[0].name.split("-")[1])
    assert 3 <= stopped_at < cancelled.progress["total"]

    resuming = resume_job(cancelled)
    with pytest.raises(JobError, match="is already being trained by job"):  # a second Resume click, another tab
        resume_job(cancelled)
    resumed = wait_for(resuming, lambda j: not j.active)
    assert resumed.state == "completed", resumed.error
    assert resumed.curve[0][0] == stopped_at + 1  # it went on from the checkpoint, not from step 1
    assert resumed.result["run"] == str(job.run_path) and (job.run_path / "COMPLETE").is_file()
    assert resumed.result["summary"]["steps"] == cancelled.progress["total"]


def test_a_killed_job_is_reported_failed_with_its_last_log_lines(job_config):
    config = job_config.updated({"training.classifier.method": "head", "training.classifier.epochs": 50,
                                 "training.classifier.max_length": 32})
    job = wait_for(start_job(config, "train-classifier", ClassifierRequest()),
                   lambda j: j.state == "running" or not j.active)
    os.killpg(job.pid, signal.SIGKILL)
    failed = wait_for(job, lambda j: not j.active, timeout=30)
    assert failed.state == "failed"
    assert "ended without reporting" in failed.error and "job " in failed.error  # the log's first line


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    from workbench.runfolder import default_run_path

    assert len({default_run_path(tmp_path, "generator", "lora") for _ in range(20)}) == 20


def test_a_cancelled_experiment_stops_at_once_and_keeps_its_finished_variants(job_config, tmp_path):
    """Cancel reaches the running variant through its progress; the experiment stops there instead of
    recording the cancellation as that variant's error and going on with the next."""
    experiment = tmp_path / "topics.yaml"
    experiment.write_text("experiment:\n  name: topics\n  task: classification\n"
                          "  data: {eval_items: 6, train_items: 24}\n"
                          "  strategies:\n    - strategy: zero-shot\n"
                          "    - strategy: few-shot\n      vary: {strategies.shots: [1, 2, 3]}\n")
    job = start_job(job_config.merged(experiment), "compare", CompareRequest(output=tmp_path / "out"))
    summary = tmp_path / "out" / "summary.json"

    def inside_the_second_variant(j) -> bool:  # zero-shot reported, few-shot part-way through its items
        p = j.progress
        return (summary.is_file() and len(json.loads(summary.read_text())["strategies"]) == 1
                and p.get("stage") == "scoring" and 1 <= p.get("done", 0) < (p.get("total") or 0)) or not j.active

    second = wait_for(job, inside_the_second_variant)
    assert second.state == "running", second.error
    started = time.monotonic()
    cancelled = cancel_job(second, grace_seconds=60)
    assert cancelled.state == "cancelled" and time.monotonic() - started < 30  # it stopped itself, not killed
    finished = sorted(p.name for p in (tmp_path / "out" / "variants").iterdir())
    assert "zero-shot.json" in finished and len(finished) < 4  # the later variants never ran
    rows = json.loads(summary.read_text())["strategies"]
    assert [r["error"] for r in rows] == [None] * len(rows)  # no variant "failed" with the cancellation
