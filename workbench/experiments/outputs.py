"""An experiment's results folder, and the schemas of the files the experiment reads back.

Layout of a results folder (`wb compare --output`):
    summary.json            every variant's metrics with intervals, costs and error; the paired comparisons
    variants/<label>.json   one finished variant: the key it was run under, its costs, its predictions file
    predictions/<label>.jsonl   its scored items, one a line
    summary.md, summary.csv, comparisons.csv, quality.png, cost.png, resolved.yaml, versions.json
                            what people read (written by `report`, never read back)

summary.json's schema is on the ground floor (workbench.summary), since pages and the advisor read it;
the variant files are checked here when written and when read, like it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from workbench.evaluation.qa import file_safe
from workbench.ondisk import SchemaViolation, read_file
from workbench.summary import ExperimentFileError


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


def read_output(path: Path, schema: Any, jsonl: bool = False) -> Any:
    """An experiment's file as `schema`; an `ExperimentFileError` naming the file when it is damaged."""
    try:
        return read_file(path, schema, jsonl)
    except SchemaViolation as exc:
        raise ExperimentFileError(f"{path}: {exc}; the file is damaged (delete it, and rerunning the "
                                  "experiment redoes what it held)") from None
