"""Progress of long work through one callback: the CLI draws tqdm bars from it, the UI a progress bar,
a background job writes it to its status file. Work reports in named stages ("embedding",
"training", "generating"); each update says how far the stage is and may carry metrics (the loss).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressUpdate:
    stage: str
    done: int
    total: int | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


ProgressCallback = Callable[[ProgressUpdate], None]


class Cancelled(Exception):
    """Raised by a progress callback to stop the work (a background job being cancelled). The
    training loop saves a checkpoint first, so the run can be resumed."""


class Stage:
    """One stage of work: `advance` moves it on and tells the callback (if any)."""

    def __init__(self, callback: ProgressCallback | None, name: str, total: int | None, done: int = 0):
        self.callback, self.name, self.total, self.done = callback, name, total, done

    def advance(self, steps: int = 1, **metrics: float) -> None:
        self.done += steps
        self.report(**metrics)

    def report(self, **metrics: float) -> None:
        if self.callback is not None:
            self.callback(ProgressUpdate(self.name, self.done, self.total, metrics))


def start_stage(callback: ProgressCallback | None, name: str, total: int | None, done: int = 0) -> Stage:
    """A stage, reported as started: `embedding = start_stage(progress, "embedding", n)`, then
    `embedding.advance(...)` as the work goes."""
    current = Stage(callback, name, total, done)
    current.report()
    return current


def tqdm_progress() -> ProgressCallback:
    """A callback drawing one tqdm bar per stage, for the command line."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}
    finished: dict[str, int | None] = {}  # stage → total of its closed bar: late reports (eval scores) add nothing

    def report(update: ProgressUpdate) -> None:
        bar = bars.get(update.stage)
        if bar is None and finished.get(update.stage, -1) == update.total and update.done >= (update.total or 0):
            return
        if bar is None or bar.total != update.total or update.done < bar.n:
            if bar is not None:
                bar.close()
            bar = bars[update.stage] = tqdm(total=update.total, initial=update.done, desc=update.stage)
        bar.update(update.done - bar.n)
        if update.metrics:
            bar.set_postfix({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in update.metrics.items()})
        if update.total is not None and update.done >= update.total:
            bar.close()
            del bars[update.stage]
            finished[update.stage] = update.total

    return report
