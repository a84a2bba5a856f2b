"""Printing results: `--json` for scripts, a readable table for people."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.ondisk import human_size
from workbench.progress import ProgressCallback, tqdm_progress

__all__ = ["add_json_flag", "cli_progress", "emit", "human_size", "table"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def cli_progress(args: argparse.Namespace) -> ProgressCallback | None:
    """tqdm bars for people; none with --json, whose output is for scripts."""
    return None if getattr(args, "json", False) else tqdm_progress()


def emit(args: argparse.Namespace, data: Any, render: Callable[[], None]) -> None:
    """Print `data` as JSON when --json was given, else call `render` for the human view."""
    if getattr(args, "json", False):
        print(json.dumps(data, default=_default, indent=2, ensure_ascii=False))
    else:
        render()


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
