"""What every part of an experiment is handed: its config, its data, where it writes its results and
where it caches what variants share (indexes, trained runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Config
from workbench.config.experiment import ExperimentSpec
from workbench.experiments.data import ExperimentData, resolve
from workbench.models.pool import ModelPool
from workbench.progress import ProgressCallback


@dataclass
class Workspace:
    """Where one experiment keeps what it builds and writes."""

    config: Config
    spec: ExperimentSpec
    data: ExperimentData
    output: Path
    progress: ProgressCallback | None
    leaks: dict[str, list[str]]  # evaluated item id -> overlap reasons
    overrides: dict[str, Any] = field(default_factory=dict)  # --smoke: its settings win over every strategy's own
    models: ModelPool | None = None  # the session's models (None: the process's pool)
    indexes: dict[Any, tuple[str, float]] = field(default_factory=dict)  # index settings -> (name, build seconds), built this run

    @property
    def general_request(self) -> dict[str, Path]:
        """The generator request's instructions to measure forgetting on (none given: a bundled set)."""
        return {"general_data": resolve(self.spec.data.general)} if self.spec.data.general else {}

    @property
    def cache(self) -> Path:
        """Indexes' build times, trained runs and their data, shared by every experiment of this output root."""
        return Path(self.config.training.output_root) / "experiment-cache"
