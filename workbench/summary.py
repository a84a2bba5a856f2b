"""summary.json, the results of a `wb compare` experiment: its schema and its reader.

It sits on the ground floor because several floors read it: the pages and the CLI show it, and the
advisor (workbench.estimate) takes the measured quality from it. It is checked when written and when
read, so a damaged or hand-edited one is one message naming the file and the field, not a `KeyError`
in a page.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, read_file

SUMMARY = "summary.json"


class ExperimentFileError(WorkbenchError):
    """A file of an experiment (its results folder or its cache) is missing or damaged."""


class Difference(BaseModel):
    value: float
    low: float
    high: float


class Comparison(BaseModel):
    """One pair of strategies on the primary metric (`PairedComparison.to_dict()`)."""

    model_config = ConfigDict(extra="forbid")
    a: str
    b: str
    metric: str
    n: int = Field(ge=0)
    difference: Difference
    test: str  # "McNemar" or "paired bootstrap"
    p_value: float
    p_holm: float
    detectable: float
    significant: bool
    verdict: str


class SummaryRow(BaseModel):
    """One variant: its label, how many items it scored, its error; every other field is a number (or
    null) named by the task: each metric with `_low` and `_high`, `<primary>_leak_free`, the costs."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, int | float | None]
    strategy: str
    n: int = Field(ge=0)
    error: str | None
    kind: str | None = None  # the strategy it is a variant of (zero-shot ... rag+finetuned), when its label is a name


class ItemCounts(BaseModel):
    train: int = Field(ge=0)
    test: int = Field(ge=0)


class Summary(BaseModel):
    """summary.json, as `report.write_report` writes it."""

    model_config = ConfigDict(extra="forbid")
    experiment: str
    task: str
    primary_metric: str
    items: ItemCounts
    leaks: dict[str, list[str]]  # evaluated item id -> why it overlaps what strategies learn from
    strategies: list[SummaryRow]
    comparisons: list[Comparison]

    @model_validator(mode="after")
    def _primary_metric_scored(self) -> Summary:
        """Readers show every finished variant's primary metric with its interval: it must be there."""
        needed = [self.primary_metric, f"{self.primary_metric}_low", f"{self.primary_metric}_high"]
        for row in self.strategies:
            missing = [name for name in needed if row.error is None and getattr(row, name, None) is None]
            if missing:
                raise ValueError(f"strategies: {row.strategy} has no {', '.join(missing)} and no error")
        return self


def read_summary(folder: Path) -> Summary:
    """The summary.json of a `wb compare` results folder, checked; an `ExperimentFileError` naming the
    file when it is missing or damaged."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise ExperimentFileError(f"{folder}: no {SUMMARY}; is it a `wb compare` results folder?")
    try:
        return read_file(path, Summary)
    except SchemaViolation as exc:
        raise ExperimentFileError(f"{path}: {exc}; the file is damaged (delete it, and rerunning the "
                                  "experiment writes it again)") from None
