"""The passages of a user's documents, as the index holds them or as it would chunk them: what continued
pretraining learns and what a classifier labelled by folder reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.config import Config
from workbench.indexing.chunking import chunk_documents
from workbench.indexing.index import index_chunks
from workbench.indexing.loaders import SkippedFile, load_documents
from workbench.progress import ProgressCallback


@dataclass(frozen=True)
class Passage:
    doc_id: str
    text: str
    metadata: dict


@dataclass
class Passages:
    passages: list[Passage]
    source: str  # in words, for a run's config
    skipped: list[SkippedFile] = field(default_factory=list)


def document_passages(config: Config, paths: Sequence[Path] = (), index: str | None = None,
                      progress: ProgressCallback | None = None) -> Passages:
    """The chunks of index `index`, or of the files and folders in `paths` chunked with `chunking`."""
    if index:
        chunks = index_chunks(index, config.index.root)
        return Passages([Passage(c.doc_id, c.text, c.metadata) for c in chunks],
                        f"index '{index}' ({len({c.doc_id for c in chunks})} documents, {len(chunks)} chunks)")
    loaded = load_documents(list(paths), text_field=config.data.text_field, text_column=config.data.text_column,
                            progress=progress)
    c = config.chunking
    chunks = chunk_documents(loaded.documents, c.splitter, c.chunk_size, c.chunk_overlap, config.models.embedder)
    skipped = f"; {len(loaded.skipped)} file(s) skipped" if loaded.skipped else ""
    return Passages([Passage(chunk.doc_id, chunk.text, chunk.metadata) for chunk in chunks],
                    f"{', '.join(map(str, paths))} ({len(loaded.documents)} documents, {len(chunks)} chunks{skipped})",
                    loaded.skipped)
