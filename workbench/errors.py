"""One base error, so the CLI and UI can show a clear message instead of a traceback, and one `Failure`
record for whatever failed without stopping the rest."""

from __future__ import annotations

from dataclasses import dataclass


class WorkbenchError(Exception):
    """A problem the user can fix: bad input, a missing model, a missing index, ..."""


class UnknownModel(WorkbenchError):
    """A served model id that names no strategy, index or run (`wb serve` answers it with a 404)."""


@dataclass(frozen=True)
class Failure:
    """Why a strategy, an experiment variant or a background job gave no result, in one shape: kept as
    text, so that it crosses processes and files (status.json, summary.json) as it is shown."""

    message: str
    kind: str | None = None  # the exception's type for unexpected errors; None for ours, which explain themselves

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        if isinstance(exc, WorkbenchError):
            return cls(str(exc))
        return cls(str(exc), type(exc).__name__)

    def describe(self) -> str:
        return self.message if self.kind is None else f"{self.kind}: {self.message}"

    def __str__(self) -> str:
        return self.describe()
