"""The schema of an index version on disk: its manifest and the rows of its chunk and document files.

Every file is validated when an index is opened, so a damaged or hand-edited one is reported as
"index NAME is damaged: FILE: field: problem" rather than failing later with a `KeyError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, with_config

if TYPE_CHECKING:
    from workbench.config import Config

FORMAT_VERSION = 1
StoreKind = Literal["flat", "hnsw", "ivf", "ivfpq"]
StoreBackend = Literal["faiss", "milvus"]


@with_config(ConfigDict(extra="forbid", allow_inf_nan=False))
@dataclass(frozen=True)
class IndexSettings:
    """What an index is built with. Changing a `structural` field means re-embedding everything."""

    embedder: str = "minilm"
    splitter: Literal["recursive", "token", "markdown"] = "recursive"
    chunk_size: Annotated[int, Field(gt=0)] = 800
    chunk_overlap: Annotated[int, Field(ge=0)] = 100
    type: StoreKind = "flat"
    hnsw_m: Annotated[int, Field(gt=0)] = 32
    ivf_nlist: Annotated[int, Field(ge=0)] = 0
    hnsw_ef_search: Annotated[int, Field(gt=0)] = 64
    ivf_nprobe: Annotated[int, Field(gt=0)] = 16
    train_sample: Annotated[int, Field(gt=0)] = 100_000
    train_seed: Annotated[int, Field(ge=0)] = 0
    pq_m: Annotated[int, Field(ge=0)] = 0
    pq_nbits: Annotated[int, Field(ge=1, le=16)] = 8
    shard_size: Annotated[int, Field(gt=0)] = 100_000
    store: StoreBackend = "faiss"
    milvus_uri: str | None = None
    embed_batch_size: Annotated[int, Field(gt=0)] = 64
    hybrid: bool = False

    @classmethod
    def from_config(cls, config: Config) -> IndexSettings:
        i = config.index
        return cls(embedder=config.models.embedder, splitter=config.chunking.splitter,
                   chunk_size=config.chunking.chunk_size, chunk_overlap=config.chunking.chunk_overlap,
                   type=i.type, hnsw_m=i.hnsw_m, ivf_nlist=i.ivf_nlist, hnsw_ef_search=i.hnsw_ef_search,
                   ivf_nprobe=i.ivf_nprobe, train_sample=i.train_sample, train_seed=i.train_seed, pq_m=i.pq_m,
                   pq_nbits=i.pq_nbits, shard_size=i.shard_size, store=i.store, milvus_uri=i.milvus_uri,
                   embed_batch_size=i.embed_batch_size, hybrid=config.retrieval.hybrid)

    @property
    def structural(self) -> tuple:
        return (self.embedder, self.splitter, self.chunk_size, self.chunk_overlap, self.type, self.hnsw_m,
                self.ivf_nlist, self.pq_m, self.pq_nbits, self.store, self.milvus_uri)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FileEntry(_Strict):
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EmbedderEntry(_Strict):
    name: str
    dimension: int = Field(gt=0)


class StoreParams(_Strict):
    """What reopens the vector store (`VectorStore.params`, `MilvusStore.params`)."""

    store: StoreBackend = "faiss"
    kind: StoreKind
    dim: int = Field(gt=0)
    hnsw_m: int | None = Field(default=None, gt=0)
    hnsw_ef_search: int | None = Field(default=None, gt=0)
    ivf_nlist: int | None = Field(default=None, ge=0)
    ivf_nprobe: int | None = Field(default=None, gt=0)
    trained_nlist: int | None = Field(default=None, ge=0)
    train_sample: int | None = Field(default=None, gt=0)
    train_seed: int | None = Field(default=None, ge=0)
    trained_on: int | None = Field(default=None, ge=0)
    pq_m: int | None = Field(default=None, ge=0)
    pq_nbits: int | None = Field(default=None, ge=1, le=16)
    shard_size: int | None = Field(default=None, gt=0)
    milvus_uri: str | None = None
    collection: str | None = None


class Counts(_Strict):
    documents: int = Field(ge=0)
    chunks: int = Field(ge=0)


class DocumentEntry(_Strict):
    hash: str
    chunks: int = Field(ge=0)


class Manifest(_Strict):
    """manifest.json, written last in a version folder: what the index holds and a checksum per file."""

    format_version: Literal[1]
    name: str
    created_at: str
    updated_at: str
    embedder: EmbedderEntry
    settings: IndexSettings
    store: StoreParams
    counts: Counts
    next_chunk_id: int = Field(ge=0)
    documents: dict[str, DocumentEntry]
    files: dict[str, FileEntry]


class DocumentRow(_Strict):
    """One line of documents.jsonl."""

    id: str
    hash: str
    metadata: dict[str, Any]
    text: str


class ChunkRow(_Strict):
    """One line of chunks.jsonl; `start`/`end` are character offsets in the document's text."""

    id: int = Field(ge=0)
    doc_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    metadata: dict[str, Any]
    text: str
