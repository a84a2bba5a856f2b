"""An experiment's results folder, and the schemas of the files the experiment reads back.

Layout of a results folder (`wb compare --output`):
    summary.json            every variant's metrics with intervals, costs and error; the paired comparisons
    variants/<label>.json   one finished variant: the key it was run under, its costs, its predictions file
    predictions/<label>.jsonl   its scored items, one a line
    summary.md, summary.csv, comparisons.csv, quality.png, cost.png, resolved.yaml, versions.json
                            what people read (written by `report`, never read back)

summary.json and the variant files are checked when written and when read, so a damaged or
hand-edited one is one message naming the file and the field, not a `KeyError` in a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import WorkbenchError
from workbench.evaluation.qa import file_safe
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


class VariantRecord(BaseModel):
    """variants/<label>.json: a finished variant, reused while its key (settings and data) is unchanged."""

    model_config = ConfigDict(extra="forbid")
    key: str
    label: str
    strategy: str
    settings: dict[str, Any]  # the variant's own settings (`vary` and `settings` of its strategy)
    costs: dict[str, int | float | None]
    predictions: str  # relative to the results folder


def variant_path(folder: Path, label: str) -> Path:
    return folder / "variants" / f"{file_safe(label)}.json"


def predictions_path(label: str) -> Path:
    """Relative to the results folder, as a variant record stores it."""
    return Path("predictions") / f"{file_safe(label)}.jsonl"


def read_summary(folder: Path) -> Summary:
    """The summary.json of a `wb compare` results folder, checked; an `ExperimentFileError` naming the
    file when it is missing or damaged."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise ExperimentFileError(f"{folder}: no {SUMMARY}; is it a `wb compare` results folder?")
    return read_output(path, Summary)


def read_output(path: Path, schema: Any, jsonl: bool = False) -> Any:
    """An experiment's file as `schema`; an `ExperimentFileError` naming the file when it is damaged."""
    try:
        return read_file(path, schema, jsonl)
    except SchemaViolation as exc:
        raise ExperimentFileError(f"{path}: {exc}; the file is damaged (delete it, and rerunning the "
                                  "experiment redoes what it held)") from None
