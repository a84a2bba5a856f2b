"""A training run's folder: the config used, per-epoch metrics, the saved weights, and a summary.

Layout of RUN_DIR:
    config.json        what was trained, how, on which data (written first)
    metrics.jsonl      one line per epoch: train loss, eval loss, task metric
    curve.jsonl        one line per optimizer step: its training loss (for plots)
    checkpoints/       step-N/ folders for --resume (removed when the run completes)
    adapter/ | head.safetensors | weights.safetensors | model/   what the run produced
    summary.json       trainable params, size on disk, wall time, throughput, peak memory (written last)
    COMPLETE           marker written after summary.json: a folder without it is not a finished run
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch

from workbench.errors import WorkbenchError

COMPLETE_MARKER = "COMPLETE"


class RunError(WorkbenchError):
    pass


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `path` through a temporary sibling and `os.replace`, so a crash never leaves half a file.

    A full disk surfaces as a `RunError` naming the file, and the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """One JSON value per line, written atomically."""
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing; is {path.parent} a workbench training run?") from None
    except ValueError as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from None


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass
class RunDir:
    """One run's folder. `create` refuses a folder holding another run unless resuming it."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def is_complete(self) -> bool:
        return (self.path / COMPLETE_MARKER).is_file()

    @classmethod
    def create(cls, path: Path, config: dict[str, Any], resume: bool) -> RunDir:
        """Start (or, with `resume`, reopen) the run in `path` with this `config`."""
        run = cls(Path(path))
        config = json.loads(json.dumps(config, default=str))  # compare as it will read back (tuples → lists)
        if run.is_complete():
            raise RunError(f"{run.path} already holds a finished run; choose another --output")
        if resume:
            if not run.config_path.is_file():
                raise RunError(f"--resume: {run.path} holds no run to resume (no config.json)")
            stored = read_json(run.config_path)
            changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            if changed:
                raise RunError(f"--resume: {run.path} was started with different settings "
                               f"({', '.join(changed)}); rerun the same command, or drop --resume")
            return run
        if run.path.exists() and any(run.path.iterdir()):
            raise RunError(f"{run.path} is not empty (an interrupted run? add --resume, or choose another --output)")
        write_json(run.config_path, config)
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """A finished run, for loading what it produced."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise RunError(f"{run.path}: no such run folder")
        if not run.is_complete():
            raise RunError(f"{run.path}: not a finished run (no {COMPLETE_MARKER} marker; interrupted? rerun with --resume)")
        return run

    def config(self) -> dict[str, Any]:
        return read_json(self.config_path)

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl from the full history (a resumed run never duplicates an epoch)."""
        write_jsonl(self.path / "metrics.jsonl", history)

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

    def write_curve(self, step_losses: list[list[float]]) -> None:
        write_jsonl(self.path / "curve.jsonl", ({"step": int(step), "loss": loss} for step, loss in step_losses))

    def curve(self) -> list[list[float]]:
        """[step, training loss] per optimizer step (empty for runs without steps, like `feature`)."""
        path = self.path / "curve.jsonl"
        lines = path.read_text().splitlines() if path.is_file() else []
        return [[point["step"], point["loss"]] for point in map(json.loads, filter(str.strip, lines))]

    def finish(self, summary: dict[str, Any]) -> None:
        """Write summary.json, then the COMPLETE marker (only now does the folder count as a run), then
        drop the checkpoints, which only served to resume."""
        write_json(self.path / "summary.json", summary)
        write_atomic(self.path / COMPLETE_MARKER, time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        shutil.rmtree(self.checkpoints, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        return read_json(self.path / "summary.json")


def default_run_path(output_root: Path, kind: str, method: str) -> Path:
    """A new run folder's path: time-stamped, with a random tail so that two runs started in the same
    second (two tabs, two jobs) never share a folder."""
    return Path(output_root) / f"{kind}-{method}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


@dataclass
class ResourceMeter:
    """Wall time and peak memory of a block: RSS sampled by a thread on CPU, the allocator's peak on CUDA."""

    interval: float = 0.05
    peak_rss: int = 0
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ResourceMeter:
        process = psutil.Process()
        self.peak_rss = process.memory_info().rss
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

        def sample() -> None:
            while not self._stop.wait(self.interval):
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.ended = time.perf_counter()

    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def report(self) -> dict[str, Any]:
        report = {"wall_seconds": round(self.elapsed(), 2), "peak_rss_bytes": self.peak_rss}
        if torch.cuda.is_available():
            report["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
        return report


def parameter_counts(model: torch.nn.Module) -> dict[str, Any]:
    """Trainable and total parameters, and the trainable share in percent."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": trainable, "total_params": total,
            "trainable_percent": round(100 * trainable / total, 4) if total else 0.0}


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
        if kind is None or config.get("kind") == kind:
            runs.append({"name": path.name, "path": path, "kind": config.get("kind"),
                         "method": config.get("options", {}).get("method"), "source": config.get("source"),
                         "summary": summary})
    return runs
