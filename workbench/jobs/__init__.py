"""Background jobs: training runs and index builds in processes of their own, tracked in a folder.

A browser tab must be able to close, reload or open twice while a run trains, and a restarted server
must find it again, so nothing about a job lives in a page or in the server's memory. Each job is a
folder under `ui.jobs_root`:

    job.json      what to run: kind, request, the resolved config (written once, first)
    status.json   state, progress with the loss curve so far, result or error (written by the job's process)
    pid           the job's process id (written by the server that started it; status.json has it too)
    log.txt       everything the process printed

`start_job` writes job.json and launches `python -m workbench.jobs JOB_DIR`, which runs the request
through a `Workbench` session and keeps status.json current (workbench/jobs/__main__.py). `read_job` reports a
job whose process died without a word as failed, with its last log lines, never as running forever.
`cancel_job` asks the process to stop (a training run saves a checkpoint between two steps) and kills
it if it does not; `resume_job` starts a cancelled or failed training run again from its checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, read_file, write_atomic, write_json
from workbench.progress import ProgressCallback
from workbench.requests import (
    ClassifierRequest,
    CompareRequest,
    GeneratorRequest,
    IndexRequest,
    QuestionsRequest,
    RewardRequest,
    StudyRequest,
)
from workbench.runfolder import RunDir, default_run_path
from workbench.session import Workbench

JOB_FILE, STATUS_FILE, LOG_FILE, PID_FILE = "job.json", "status.json", "log.txt", "pid"
ACTIVE = ("starting", "running", "cancelling")
CANCEL_GRACE_SECONDS = 20.0  # time to reach the next step and checkpoint before being killed
LAUNCH_SECONDS = 60.0  # a job with no process id after this long never started


class JobError(WorkbenchError):
    pass


def read_json(path: Path, schema: Any) -> Any:
    """A job folder's JSON file as `schema`; a `JobError` naming the file when it is missing or damaged."""
    try:
        return read_file(path, schema)
    except FileNotFoundError:
        raise JobError(f"{path}: missing; is {path.parent} a workbench job folder?") from None
    except SchemaViolation as exc:
        raise JobError(f"{path}: {exc}; the job's file is damaged (start the job again)") from None


class JobSpec(BaseModel):
    """job.json: what the job runs, written once when it starts."""

    id: str
    kind: str
    title: str
    created_at: float
    request: dict[str, Any]
    config: dict[str, Any]


class JobStatus(BaseModel):
    """status.json: where the job stands, rewritten by the job's process as it runs."""

    state: Literal["starting", "running", "cancelling", "completed", "failed", "cancelled"]
    progress: dict[str, Any] = {}
    curve: list[list[float]] = []
    evaluations: list[dict[str, Any]] = []
    result: dict[str, Any] | None = None
    error: str | None = None
    pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class JobKind:
    """What a job kind runs: its request type and the session call, which returns the job's result."""

    request: type[BaseModel]
    run: Callable[[Workbench, Any, ProgressCallback], dict[str, Any]]
    run_kind: str | None = None  # training kinds: "classifier" / "generator", for the run folder's name


def _build_index(session: Workbench, request: IndexRequest, progress: ProgressCallback) -> dict[str, Any]:
    index = session.index(request, progress)
    return {"index": index.name, "update": asdict(index.last_update)}


def _train(session: Workbench, request: Any, progress: ProgressCallback) -> dict[str, Any]:
    finished = session.train(request, progress)
    return {"run": str(finished.path), "summary": finished.summary()}


def _generate_questions(session: Workbench, request: QuestionsRequest, progress: ProgressCallback) -> dict[str, Any]:
    records, report = session.questions(request, progress)
    return {"output": str(request.output), "kept": report.kept, "requested": report.requested}


def _compare(session: Workbench, request: CompareRequest, progress: ProgressCallback) -> dict[str, Any]:
    results, output = session.compare(request, progress)
    return {"output": str(output), "failed": [r.label for r in results if r.error]}


def _study_questions(session: Workbench, request: StudyRequest, progress: ProgressCallback) -> dict[str, Any]:
    return {"output": str(session.study_questions(request, progress))}


def _study(session: Workbench, request: StudyRequest, progress: ProgressCallback) -> dict[str, Any]:
    outcome = session.study(request, progress)
    return {"output": str(outcome.folder),
            "failed": [r.label for d in outcome.designs for r in d.results if r.error]}


JOB_KINDS: dict[str, JobKind] = {
    "build-index": JobKind(IndexRequest, _build_index),
    "train-classifier": JobKind(ClassifierRequest, _train, "classifier"),
    "train-generator": JobKind(GeneratorRequest, _train, "generator"),
    "train-reward": JobKind(RewardRequest, _train, "reward"),
    "compare": JobKind(CompareRequest, _compare),
    "generate-questions": JobKind(QuestionsRequest, _generate_questions),
    "study-questions": JobKind(StudyRequest, _study_questions),
    "study": JobKind(StudyRequest, _study),
}


@dataclass(frozen=True)
class Job:
    """A job as read from its folder."""

    id: str
    path: Path
    kind: str
    title: str
    request: dict[str, Any]
    created_at: float
    state: str  # starting, running, cancelling, completed, failed, cancelled
    progress: dict[str, Any] = field(default_factory=dict)  # stage, done, total, metrics, stage_started_at, done_at_start
    curve: list[list[float]] = field(default_factory=list)  # [step, loss] per training step
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # per epoch: step, eval_loss, task metrics
    result: dict[str, Any] | None = None
    error: str | None = None
    pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def run_path(self) -> Path | None:
        """The training run folder (known from the start: `start_job` fixes it)."""
        output = self.request.get("output")
        return Path(output) if output and JOB_KINDS[self.kind].run_kind else None

    def log_tail(self, lines: int = 20) -> list[str]:
        try:
            return (self.path / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return []

    def remaining_seconds(self) -> float | None:
        """Time left in the current stage at its pace since the stage (or this process) started."""
        p = self.progress
        done, total, since = p.get("done", 0), p.get("total"), p.get("stage_started_at")
        moved = done - p.get("done_at_start", 0)
        if not total or not since or moved <= 0 or not self.active:
            return None
        return (time.time() - since) / moved * (total - done)


def _job_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{os.urandom(3).hex()}"


def start_job(config: Config, kind: str, request: BaseModel, title: str | None = None) -> Job:
    """Write the job's folder and launch its process; returns at once."""
    if kind not in JOB_KINDS:
        raise JobError(f"unknown job kind '{kind}' (known: {', '.join(JOB_KINDS)})")
    spec = JOB_KINDS[kind]
    request = spec.request.model_validate(request.model_dump())
    request.check()  # a request that cannot run is refused here, not in a process that fails later
    if spec.run_kind and request.output is None:  # fix the run folder now, so cancel and resume know it
        method = getattr(config.training, spec.run_kind).method
        request = request.model_copy(update={"output": default_run_path(config.training.output_root,
                                                                         spec.run_kind, method)})
    job_id = _job_id(kind)
    path = Path(config.ui.jobs_root) / job_id
    spec = JobSpec(id=job_id, kind=kind, title=title or kind, created_at=time.time(),
                   request=request.model_dump(mode="json"), config=config.model_dump(mode="json"))
    write_json(path / JOB_FILE, spec.model_dump())
    write_json(path / STATUS_FILE, {"state": "starting"})
    with open(path / LOG_FILE, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "workbench.jobs", str(path.resolve())],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=os.getcwd())
    _CHILDREN[process.pid] = process
    write_atomic(path / PID_FILE, str(process.pid))  # not status.json: the job's process owns that one
    return read_job(path)


_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this server started, reaped when they end


def read_job(path: Path) -> Job:
    """The job in `path`; an active job whose process is gone is reported failed with its last log lines."""
    path = Path(path)
    spec = read_json(path / JOB_FILE, JobSpec)
    status = read_json(path / STATUS_FILE, JobStatus)
    job = Job(id=spec.id, path=path, kind=spec.kind, title=spec.title, request=spec.request,
              created_at=spec.created_at, state=status.state, progress=status.progress, curve=status.curve,
              evaluations=status.evaluations, result=status.result, error=status.error,
              pid=_pid(path) or status.pid, started_at=status.started_at, ended_at=status.ended_at)
    if job.active and not _alive(job):
        status = read_json(path / STATUS_FILE, JobStatus)  # it may have finished between the two reads
        if status.state not in ACTIVE:
            return read_job(path)
        if status.state == "cancelling":  # killed by cancel_job, which records it next
            return replace(job, state="cancelled", error="cancelled")
        tail = "\n".join(job.log_tail())
        return replace(job, state="failed", error="the job's process ended without reporting (killed, "
                                                              f"or out of memory?); last log lines:\n{tail}")
    return job


def _pid(path: Path) -> int | None:
    try:
        return int((path / PID_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None  # being launched this instant (or the job's own status.json says)


def _alive(job: Job) -> bool:
    """Whether the job's process still runs (not a zombie, not a reused pid)."""
    pid, path = job.pid, job.path
    if pid is None:  # launched this instant; a launch that never got a process is dead after a while
        return time.time() - job.created_at < LAUNCH_SECONDS
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:  # ours and ended: reap it
        del _CHILDREN[pid]
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and str(path.resolve()) in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def list_jobs(config: Config) -> list[Job]:
    """Every job under `ui.jobs_root`, newest first (folders that are not readable jobs are skipped)."""
    return _jobs_in(Path(config.ui.jobs_root))


def _jobs_in(root: Path) -> list[Job]:
    jobs = []
    for path in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if (path / JOB_FILE).is_file():
            try:
                jobs.append(read_job(path))
            except WorkbenchError:
                continue
    return jobs


def cancel_job(job: Job, grace_seconds: float = CANCEL_GRACE_SECONDS) -> Job:
    """Ask the job to stop (SIGTERM: a training run checkpoints after its current step), kill its process
    group if it has not stopped within `grace_seconds`, and record it as cancelled."""
    deadline = time.monotonic() + grace_seconds
    while job.active and job.pid is None and time.monotonic() < deadline:  # launching: wait for its pid
        time.sleep(0.2)
        job = read_job(job.path)
    if not job.active:
        return job
    if job.pid is not None and _alive(job):
        _signal(job.pid, signal.SIGTERM)
        while time.monotonic() < deadline and _alive(job):
            time.sleep(0.2)
        if _alive(job):
            _signal(job.pid, signal.SIGKILL)
            while _alive(job) and time.monotonic() < deadline + 10:
                time.sleep(0.1)
    status = read_json(job.path / STATUS_FILE, JobStatus)
    if status.state in ACTIVE:  # killed before it could say so itself
        write_json(job.path / STATUS_FILE, {**status.model_dump(exclude_none=True), "state": "cancelled",
                                            "ended_at": time.time(), "error": "cancelled"})
    return read_job(job.path)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the job leads its own process group (start_new_session)
    except ProcessLookupError:
        pass


def resume_job(job: Job) -> Job:
    """Start a cancelled or failed training job again in a new job, from its run's last checkpoint."""
    if job.active:
        raise JobError(f"job {job.id} is still {job.state}")
    run = job.run_path
    if run is None or not (run / "config.json").is_file():
        raise JobError(f"job {job.id} left no run to resume; start it again instead")
    if RunDir(run).is_complete():
        raise JobError(f"job {job.id}'s run {run} has finished already")
    busy = [other.id for other in _jobs_in(job.path.parent) if other.active and other.run_path == run]
    if busy:
        raise JobError(f"run {run} is already being trained by job {busy[0]}")
    spec = read_json(job.path / JOB_FILE, JobSpec)
    kind = JOB_KINDS[job.kind]
    request = kind.request.model_validate({**job.request, "resume": True})
    return start_job(Config.model_validate(spec.config), job.kind, request, title=f"{job.title} (resumed)")
