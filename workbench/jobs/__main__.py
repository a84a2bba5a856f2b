"""`python -m workbench.jobs JOB_DIR`: run one job (see workbench.jobs) and keep its status.json current."""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from workbench.config import Config
from workbench.errors import Failure
from workbench.jobs import JOB_FILE, JOB_KINDS, STATUS_FILE, JobSpec, read_json
from workbench.ondisk import write_json
from workbench.progress import Cancelled, ProgressUpdate
from workbench.session import Workbench

WRITE_EVERY_SECONDS = 0.5  # status.json is rewritten at most this often while a stage advances


class StatusWriter:
    """The progress callback of a job: keeps the status (with the loss curve) and writes it atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.status: dict[str, Any] = {"state": "running", "pid": os.getpid(), "started_at": time.time(),
                                       "progress": {}, "curve": [], "evaluations": []}
        self.cancel_requested = False
        self._written = 0.0
        self.write()

    def __call__(self, update: ProgressUpdate) -> None:
        progress = self.status["progress"]
        new_stage = progress.get("stage") != update.stage or update.done < progress.get("done", 0)
        if new_stage:
            progress.update(stage_started_at=time.time(), done_at_start=update.done)
        progress.update(stage=update.stage, done=update.done, total=update.total, metrics=update.metrics)
        if update.stage == "training" and "eval_loss" in update.metrics:
            self.status["evaluations"].append(update.metrics)
        elif update.stage == "training" and "loss" in update.metrics:
            self.status["curve"].append([update.done, update.metrics["loss"]])
        finished = update.total is not None and update.done >= update.total
        if new_stage or finished or time.monotonic() - self._written >= WRITE_EVERY_SECONDS:
            self.write()
        if self.cancel_requested:
            raise Cancelled()

    def write(self, **changes: Any) -> None:
        self.status.update(changes)
        write_json(self.path / STATUS_FILE, self.status)
        self._written = time.monotonic()


def main(job_dir: str) -> int:
    path = Path(job_dir)
    spec = read_json(path / JOB_FILE, JobSpec)
    writer = StatusWriter(path)

    def request_cancel(signum: int, frame: object) -> None:
        if writer.status["state"] == "running":  # a job that has just finished stays finished
            writer.cancel_requested = True
            writer.write(state="cancelling")

    signal.signal(signal.SIGTERM, request_cancel)
    kind = JOB_KINDS[spec.kind]
    print(f"job {spec.id}: {spec.kind} {spec.request}", flush=True)
    try:
        session = Workbench(Config.model_validate(spec.config))
        result = kind.run(session, kind.request.model_validate(spec.request), writer)
    except Cancelled:
        print("cancelled; a training run can be resumed from its last checkpoint", flush=True)
        writer.write(state="cancelled", ended_at=time.time(), error="cancelled")
        return 1
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the page must show it
        failure = Failure.of(exc)
        if failure.kind is None:
            print(f"error: {failure}", flush=True)
        else:
            traceback.print_exc()
        writer.write(state="failed", ended_at=time.time(), error=failure.describe())
        return 2 if failure.kind is None else 1
    writer.write(state="completed", ended_at=time.time(), result=result)
    print("completed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
