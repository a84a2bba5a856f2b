"""A training run's folder (torch-free: jobs, pages and experiments read runs without loading torch): the config used, per-epoch metrics, the saved weights, and a summary.

Layout of RUN_DIR:
    config.json        what was trained, how, on which data (written first)
    metrics.jsonl      one line per epoch: train loss, eval loss, task metric
    curve.jsonl        one line per optimizer step: its training loss (for plots)
    checkpoints/       step-N/ folders for --resume (removed when the run completes)
    adapter/ | head.safetensors | weights.safetensors | model/   what the run produced
    summary.json       trainable params, size on disk, wall time, throughput, peak memory (written last)
    COMPLETE           marker written after summary.json: a folder without it is not a finished run
    .lock              held (fcntl) by the process training into the folder
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, conform, exclusive, read_file, write_atomic, write_json, write_jsonl

COMPLETE_MARKER = "COMPLETE"
LOCK = ".lock"  # held (fcntl) by the process training into the folder


class RunError(WorkbenchError):
    pass


class RunBusy(RunError):
    """Another process is training into the run folder."""


class RunOptions(BaseModel):
    """The options of a run that loading it reads; each trainer stores more (its options dataclass)."""

    model_config = ConfigDict(extra="allow")
    method: str
    max_length: int = Field(gt=0)
    model: str | None = None  # generators and reward models
    backbone: str | None = None  # classifiers
    base_run: str | None = None  # preference tuning started from another run
    reward_run: str | None = None
    system_prompt: str | None = None  # generators and reward models


class RunConfig(BaseModel):
    """config.json: what was trained, how, on which data."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["classifier", "generator", "reward"]
    source: str
    train_examples: int = Field(ge=0)
    eval_examples: int = Field(ge=0)
    classes: list[str] | None = None  # classifiers
    index: str | None = None  # the index whose corpus the data came from, when known (Compare warns on another)
    world_size: int = Field(default=1, ge=1)  # processes that trained it (absent: one); a resume needs as many
    options: RunOptions


class RunSummary(BaseModel):
    """summary.json, the one schema every trainer writes last: cost (parameters, size, time, memory)
    and the final evaluation; trainers add their own fields (forgetting, truncation, eval items)."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["classifier", "generator", "reward"]
    method: str
    trainable_params: int = Field(ge=0)
    total_params: int = Field(ge=0)
    trainable_percent: float
    saved_bytes: int = Field(ge=0)
    wall_seconds: float = Field(ge=0)
    peak_rss_bytes: int = Field(ge=0)
    peak_cuda_bytes: int | None = None
    train_seconds: float = Field(ge=0)
    steps: int = Field(ge=0)
    final: dict[str, Any]


class CurvePoint(BaseModel):
    step: int
    loss: float


def read_json(path: Path, schema: Any = Any) -> Any:
    """The JSON file `path` of a run or job folder, validated as `schema`; a `RunError` naming the file
    and the field otherwise."""
    try:
        return read_file(path, schema)
    except FileNotFoundError:
        raise RunError(f"{path}: missing; is {path.parent} a workbench training run?") from None
    except SchemaViolation as exc:
        raise damaged(path, exc) from None


def damaged(path: Path, problem: Exception) -> RunError:
    return RunError(f"{path}: {problem}; the file is damaged (rerun the training)")


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass
class RunDir:
    """One run's folder. `create` refuses a folder holding another run unless resuming it.

    When several processes train one run, only rank 0's `RunDir` writes (`writer`); the others'
    writes do nothing (`workbench.training.distributed.shared_run`)."""

    path: Path
    writer: bool = True

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def is_complete(self) -> bool:
        return (self.path / COMPLETE_MARKER).is_file()

    @classmethod
    @contextmanager
    def create(cls, path: Path, config: dict[str, Any], resume: bool) -> Iterator[RunDir]:
        """Start (or, with `resume`, reopen) the run in `path` with this `config`, for the block: the
        folder is locked, so a second process training into it is refused."""
        run = cls(Path(path))
        with exclusive(run.path / LOCK, lambda holder: RunBusy(
                f"{run.path} is being trained into by another process (pid {holder}); wait for it to "
                "finish, or choose another --output")):
            run._start(json.loads(json.dumps(config, default=str)), resume)  # as it reads back (tuples → lists)
            yield run

    def _start(self, config: dict[str, Any], resume: bool) -> None:
        if self.is_complete():
            raise RunError(f"{self.path} already holds a finished run; choose another --output")
        if resume:
            if not self.config_path.is_file():
                raise RunError(f"--resume: {self.path} holds no run to resume (no config.json)")
            stored = read_json(self.config_path, dict[str, Any])
            trained_on, now = stored.get("world_size", 1), config.get("world_size", 1)
            if trained_on != now:
                raise RunError(f"--resume: {self.path} was trained on {trained_on} process(es), this is {now}: the batches "
                               f"each process sees and the schedule's length depend on it; resume with --nproc {trained_on}")
            changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            if changed:
                raise RunError(f"--resume: {self.path} was started with different settings "
                               f"({', '.join(changed)}); rerun the same command, or drop --resume")
            return
        if any(entry.name != LOCK for entry in self.path.iterdir()):
            raise RunError(f"{self.path} is not empty (an interrupted run? add --resume, or choose another --output)")
        conform(RunConfig, config)  # what readers will expect of it, checked before it is written
        write_json(self.config_path, config)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """A finished run, for loading what it produced."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run folder")
        if not run.is_complete():
            raise RunError(f"{run.path}: not a finished run (no {COMPLETE_MARKER} marker; interrupted? rerun with --resume)")
        return run

    def config(self) -> RunConfig:
        return read_json(self.config_path, RunConfig)

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl from the full history (a resumed run never duplicates an epoch)."""
        if not self.writer:
            return
        write_jsonl(self.path / "metrics.jsonl", history)

    def metrics(self) -> list[dict[str, Any]]:
        return self._rows("metrics.jsonl", dict[str, Any])

    def write_curve(self, step_losses: list[list[float]]) -> None:
        if not self.writer:
            return
        write_jsonl(self.path / "curve.jsonl", ({"step": int(step), "loss": loss} for step, loss in step_losses))

    def curve(self) -> list[list[float]]:
        """[step, training loss] per optimizer step (empty for runs without steps, like `feature`)."""
        return [[point.step, point.loss] for point in self._rows("curve.jsonl", CurvePoint)]

    def _rows(self, name: str, schema: Any) -> list:
        try:
            return read_file(self.path / name, schema, jsonl=True)
        except FileNotFoundError:
            return []
        except SchemaViolation as exc:
            raise damaged(self.path / name, exc) from None

    def finish(self, summary: dict[str, Any]) -> None:
        """Write summary.json, then the COMPLETE marker (only now does the folder count as a run), then
        drop the checkpoints, which only served to resume."""
        if not self.writer:
            return
        conform(RunSummary, summary)
        write_json(self.path / "summary.json", summary)
        write_atomic(self.path / COMPLETE_MARKER, time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        shutil.rmtree(self.checkpoints, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        """summary.json, checked against `RunSummary` (so its common fields are there and well typed)."""
        path = self.path / "summary.json"
        summary = read_json(path, dict[str, Any])
        try:
            conform(RunSummary, summary)
        except SchemaViolation as exc:
            raise damaged(path, exc) from None
        return summary


def default_run_path(output_root: Path, kind: str, method: str) -> Path:
    """A new run folder's path: time-stamped, with a random tail so that two runs started in the same
    second (two tabs, two jobs) never share a folder."""
    return Path(output_root) / f"{kind}-{method}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


def list_runs(output_root: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The finished runs under `output_root` (optionally of one kind: classifier, generator), newest
    first, each with its path, kind, method, source and summary; unreadable folders are skipped."""
    root = Path(output_root)
    runs = []
    for path in sorted(root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []:
        run = RunDir(path)
        if not run.is_complete():
            continue
        try:
            config, summary = run.config(), run.summary()
        except RunError:
            continue
        if kind is None or config.kind == kind:
            runs.append({"name": path.name, "path": path, "kind": config.kind, "method": config.options.method,
                         "source": config.source, "index": config.index, "summary": summary})
    return runs


def results_folder(output_root: Path, kind: str) -> Path:
    """Where an evaluation writes when no folder is given: <output_root>/<kind>/<time> (the Results page
    lists these)."""
    return Path(output_root) / kind / time.strftime("%Y%m%d-%H%M%S")
