"""Errors of the indexing package: each names the index or file and says what to do."""

from __future__ import annotations

from workbench.errors import WorkbenchError


class IndexingError(WorkbenchError):
    """Base class: any problem building, updating, opening or searching an index."""


class InvalidIndexName(IndexingError):
    pass


class IndexNotFound(IndexingError):
    pass


class IndexCorrupt(IndexingError):
    pass


class IndexLocked(IndexingError):
    pass


class EmbedderMismatch(IndexingError):
    pass


class NoDocuments(IndexingError):
    pass


class IndexBuildError(IndexingError):
    """A setting that cannot work for this corpus, e.g. an IVF index on too few chunks."""
