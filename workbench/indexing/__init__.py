"""Indexing: load documents, chunk them, embed them and search them with FAISS (optionally with BM25),
in named indexes that persist on disk and update incrementally."""

from workbench.indexing.chunking import Chunk, chunk_documents
from workbench.indexing.embedding import embed_texts
from workbench.indexing.errors import (
    EmbedderMismatch,
    IndexBuildError,
    IndexCorrupt,
    IndexingError,
    IndexLocked,
    IndexNotFound,
    InvalidIndexName,
    NoDocuments,
)
from workbench.indexing.executors import EmbedChunks, chunk_embedding
from workbench.indexing.hybrid import Bm25
from workbench.indexing.index import (
    ExplainedHit,
    Index,
    IndexSettings,
    SearchHit,
    UpdateSummary,
    build_index,
    list_indexes,
    open_index,
)
from workbench.indexing.loaders import LoadedDocuments, SkippedFile, load_documents
from workbench.indexing.milvus import MilvusStore
from workbench.indexing.store import VectorStore

__all__ = [
    "Bm25",
    "Chunk",
    "EmbedChunks",
    "EmbedderMismatch",
    "ExplainedHit",
    "Index",
    "IndexBuildError",
    "IndexCorrupt",
    "IndexLocked",
    "IndexNotFound",
    "IndexSettings",
    "IndexingError",
    "InvalidIndexName",
    "LoadedDocuments",
    "MilvusStore",
    "NoDocuments",
    "SearchHit",
    "SkippedFile",
    "UpdateSummary",
    "VectorStore",
    "build_index",
    "chunk_documents",
    "chunk_embedding",
    "embed_texts",
    "list_indexes",
    "load_documents",
    "open_index",
]
