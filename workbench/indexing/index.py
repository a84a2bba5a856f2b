"""`Index`: documents, their chunks and embeddings, searchable and updatable, persisted atomically.

`build_index` makes a named index hold exactly the given corpus, re-embedding only what changed since
the last build (same content hash: reused); `open_index` loads one; `Index.add` / `Index.remove` update
it. Every change is written as a new version (see storage.py) while holding the index's write lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.config import Config, load_config
from workbench.corpus import Document
from workbench.indexing import storage
from workbench.indexing.chunking import Chunk, chunk_documents
from workbench.indexing.embedding import count_truncated, embed_texts, embedder_dimension, embedder_window
from workbench.indexing.errors import EmbedderMismatch, IndexCorrupt, IndexingError, NoDocuments
from workbench.indexing.executors import EmbedChunks, chunk_embedding
from workbench.indexing.hybrid import BM25_FILE_PREFIX, Bm25, reciprocal_rank_fusion
from workbench.indexing.loaders import SkippedFile, load_documents
from workbench.indexing.manifest import ChunkRow, DocumentRow, IndexSettings, Manifest
from workbench.indexing.milvus import MilvusStore
from workbench.indexing.store import VectorStore
from workbench.ondisk import SchemaViolation, encode_jsonl, parse_jsonl
from workbench.progress import ProgressCallback

log = logging.getLogger(__name__)

HYBRID_CANDIDATES = 50  # how deep each of BM25 and dense retrieval ranks before fusion
_CHUNKS, _DOCUMENTS = "chunks.jsonl", "documents.jsonl"
# Where the dense vectors live (`index.store`); each class creates, loads and commits its store
STORES: dict[str, type[VectorStore] | type[MilvusStore]] = {"faiss": VectorStore, "milvus": MilvusStore}


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    doc_id: str
    score: float  # cosine similarity (dense) or reciprocal-rank-fusion score (hybrid)
    text: str
    metadata: dict
    start: int  # character offsets of the chunk in its document's text
    end: int


@dataclass(frozen=True)
class ExplainedHit:
    """A hybrid hit with what each retriever made of it, for showing why it ranks where it does.
    A retriever's score and rank are None when it did not rank the chunk among its candidates."""

    hit: SearchHit  # its score is the fused one
    dense_score: float | None  # cosine similarity
    dense_rank: int | None  # 1 = best
    keyword_score: float | None  # BM25
    keyword_rank: int | None
    fused_score: float  # sum over the ranks present of 1 / (RRF_K + rank)


@dataclass(frozen=True)
class UpdateSummary:
    """What a build, add or remove changed. `skipped` documents were unchanged (nothing embedded)."""

    added: int = 0
    replaced: int = 0
    skipped: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    skipped_files: tuple[SkippedFile, ...] = ()  # unreadable files skipped while loading a folder
    warnings: tuple[str, ...] = ()  # what the user should know (chunks cut off by the embedder's window)


@dataclass
class _StoredDocument:
    id: str
    text: str
    metadata: dict
    hash: str
    chunk_ids: list[int] = field(default_factory=list)


class Index:
    """A named index under `root`. Get one from `build_index` or `open_index`."""

    def __init__(self, path: Path, settings: IndexSettings, store: VectorStore | MilvusStore):
        self.path, self.name, self.settings, self.store = path, path.name, settings, store
        self.version: str | None = None
        self.created_at = _now()
        self.last_update: UpdateSummary | None = None  # set by build_index
        self._documents: dict[str, _StoredDocument] = {}
        self._chunks: dict[int, Chunk] = {}
        self._next_chunk_id = 0
        self._bm25: Bm25 | None = None

    @classmethod
    def empty(cls, path: Path, settings: IndexSettings) -> Index:
        return cls(path, settings, STORES[settings.store].create(embedder_dimension(settings.embedder), settings, path))

    @property
    def embedder_name(self) -> str:
        return self.settings.embedder

    # --- reading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Index:
        """The current version at `path`, verified (IndexNotFound / IndexCorrupt otherwise): every file
        against its checksum and schema, and the files against each other. Its keyword index, if saved,
        stays on disk, memory-mapped."""
        snapshot = storage.read_snapshot(path, required=(_CHUNKS, _DOCUMENTS), on_disk=(BM25_FILE_PREFIX,))
        manifest, where = snapshot.manifest, path / snapshot.version
        kind = STORES[manifest.store.store]
        if kind.FILE and kind.FILE not in snapshot.files:  # the store's own file, if it keeps one
            raise storage.damaged(path, where / storage.MANIFEST, f"lists no {kind.FILE}")
        try:
            store = kind.load(snapshot.files.get(kind.FILE, b""), manifest.store.model_dump(exclude_none=True), path)
        except (RuntimeError, ValueError) as exc:  # not an IndexingError: Milvus out of reach is no damage
            raise storage.damaged(path, where / (kind.FILE or storage.MANIFEST), f"unreadable vector store ({exc})") from None
        index = cls(path, manifest.settings, store)
        index.version, index.created_at = snapshot.version, manifest.created_at
        index._next_chunk_id = manifest.next_chunk_id
        for row in _rows(path, where / _DOCUMENTS, DocumentRow, snapshot.files[_DOCUMENTS]):
            index._documents[row.id] = _StoredDocument(row.id, row.text, row.metadata, row.hash)
        for row in _rows(path, where / _CHUNKS, ChunkRow, snapshot.files[_CHUNKS]):
            if row.doc_id not in index._documents:
                raise storage.damaged(path, where / _CHUNKS, f"chunk {row.id} belongs to document "
                                                             f"{row.doc_id!r}, which the index does not hold")
            index._chunks[row.id] = Chunk(row.doc_id, row.text, row.start, row.end, row.metadata)
            index._documents[row.doc_id].chunk_ids.append(row.id)
        index._check_against(manifest, where)
        if any(name.startswith(BM25_FILE_PREFIX) for name in manifest.files):
            try:
                index._bm25 = Bm25.open(where, np.array(sorted(index._chunks), dtype=np.int64))
            except (OSError, ValueError) as exc:
                raise storage.damaged(path, where, f"unreadable keyword index ({exc})") from None
        return index

    def _check_against(self, manifest: Manifest, where: Path) -> None:
        """The loaded files agree with the manifest and with each other (each is valid on its own)."""
        held = {doc_id: len(doc.chunk_ids) for doc_id, doc in self._documents.items()}
        listed = {doc_id: entry.chunks for doc_id, entry in manifest.documents.items()}
        problems = [
            (manifest.counts.documents != len(self._documents),
             f"the manifest counts {manifest.counts.documents} documents, documents.jsonl holds {len(self._documents)}"),
            (manifest.counts.chunks != len(self._chunks),
             f"the manifest counts {manifest.counts.chunks} chunks, chunks.jsonl holds {len(self._chunks)}"),
            (listed != held, "the manifest's document list does not match documents.jsonl and chunks.jsonl"),
            (any(chunk_id >= self._next_chunk_id for chunk_id in self._chunks),
             f"a chunk id is not below next_chunk_id {self._next_chunk_id}"),
            (not _vectors_match(set(self.store.ids().tolist()), set(self._chunks), self.store.KEEPS_STRAYS),
             "the vectors and the chunks do not match"),
        ]
        for failed, problem in problems:
            if failed:
                raise storage.damaged(self.path, where, problem)

    def info(self) -> dict:
        size = sum(f.stat().st_size for f in (self.path / self.version).iterdir()) if self.version else 0
        return {"name": self.name, "path": str(self.path), "version": self.version,
                "documents": len(self._documents), "chunks": len(self._chunks),
                "embedder": self.embedder_name, "dimension": self.store.dim, "store": self.store.params,
                "settings": dataclasses.asdict(self.settings), "size_bytes": size,
                "created_at": self.created_at}

    def document_ids(self) -> list[str]:
        return list(self._documents)

    def document_text(self, doc_id: str) -> str:
        return self._documents[doc_id].text

    def chunk_texts(self) -> list[str]:
        return [chunk.text for chunk in self._chunks.values()]

    def chunks(self) -> list[tuple[int, Chunk]]:
        """(chunk id, chunk) of every chunk, by id (documents in the order they were added)."""
        return sorted(self._chunks.items())

    # --- search --------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, filters: dict | None = None,
               hybrid: bool | None = None) -> list[SearchHit]:
        """The `k` best chunks for `query`. `filters` maps a metadata key (or `doc_id`) to a value or a
        list of accepted values; the filtered search is exact, so it returns k hits whenever k match."""
        return self.search_many([query], k, filters, hybrid)[0]

    def search_many(self, queries: list[str], k: int = 5, filters: dict | None = None,
                    hybrid: bool | None = None) -> list[list[SearchHit]]:
        """`search` for many queries, embedded in batches."""
        hybrid = self.settings.hybrid if hybrid is None else hybrid
        results = []
        for dense, keyword in self._rankings(queries, k, filters, hybrid):
            ranked = reciprocal_rank_fusion([_ids(dense), _ids(keyword)]) if hybrid else dense
            results.append([self._hit(chunk_id, score) for chunk_id, score in ranked[:k]])
        return results

    def explain(self, query: str, k: int = 5, filters: dict | None = None) -> list[ExplainedHit]:
        """The hybrid search's `k` hits, in its order, each with its dense, keyword and fused scores and ranks."""
        [(dense, keyword)] = self._rankings([query], k, filters, hybrid=True)
        dense_at, keyword_at = _ranks(dense), _ranks(keyword)
        explained = []
        for chunk_id, fused in reciprocal_rank_fusion([_ids(dense), _ids(keyword)])[:k]:
            dense_rank, dense_score = dense_at.get(chunk_id, (None, None))
            keyword_rank, keyword_score = keyword_at.get(chunk_id, (None, None))
            explained.append(ExplainedHit(self._hit(chunk_id, fused), dense_score=dense_score, dense_rank=dense_rank,
                                          keyword_score=keyword_score, keyword_rank=keyword_rank, fused_score=fused))
        return explained

    def _rankings(self, queries: list[str], k: int, filters: dict | None,
                  hybrid: bool) -> list[tuple[list[tuple[int, float]], list[tuple[int, float]]]]:
        """Per query, the (chunk id, score) rankings to fuse, best first: dense, then keyword (empty unless
        `hybrid`); both `HYBRID_CANDIDATES` deep when hybrid, else the dense one `k` deep."""
        allowed = self._matching_ids(filters)
        depth = max(k, HYBRID_CANDIDATES) if hybrid else k
        vectors = embed_texts(queries, self.embedder_name, self.settings.embed_batch_size)
        if allowed is None:
            all_scores, all_ids = self.store.search(vectors, depth)
        else:
            all_scores, all_ids = self.store.search_subset(vectors, depth, allowed)
        rankings = []
        for query, scores, ids in zip(queries, all_scores, all_ids):
            dense = [(int(i), float(s)) for i, s in zip(ids, scores) if int(i) in self._chunks]  # -1: none
            rankings.append((dense, self._keyword_index().top(query, depth, allowed) if hybrid else []))
        return rankings

    def _hit(self, chunk_id: int, score: float) -> SearchHit:
        chunk = self._chunks[chunk_id]
        return SearchHit(chunk_id, chunk.doc_id, score, chunk.text, chunk.metadata, chunk.start, chunk.end)

    def _matching_ids(self, filters: dict | None) -> np.ndarray | None:
        if not filters:
            return None
        accepted = {key: value if isinstance(value, (list, tuple, set)) else [value] for key, value in filters.items()}
        return np.array([chunk_id for chunk_id, chunk in self._chunks.items()
                         if all(_matches(chunk, key, values) for key, values in accepted.items())], dtype=np.int64)

    def _keyword_index(self) -> Bm25:
        if self._bm25 is None:
            ids = sorted(self._chunks)
            self._bm25 = Bm25(np.array(ids, dtype=np.int64), [self._chunks[i].text for i in ids])
        return self._bm25

    # --- updating ------------------------------------------------------------------------------

    def add(self, documents: Iterable[Document], *, embedder: str | None = None,
            progress: ProgressCallback | None = None, embed: EmbedChunks = embed_texts) -> UpdateSummary:
        """Add new documents and replace changed ones (same id, other content); unchanged ones are skipped.
        `embedder`, when given, must be the one the index was built with; `embed` is where the new chunks
        are embedded (`chunk_embedding(config.index)`; default: in this process)."""
        if embedder is not None and embedder != self.embedder_name:
            raise EmbedderMismatch(f"index '{self.name}' was built with embedder '{self.embedder_name}', not "
                                   f"'{embedder}': vectors of different embedders cannot be mixed; use "
                                   f"--set models.embedder={self.embedder_name} or build a new index")
        documents = list(documents)
        with storage.write_lock(self.path):
            self._reload_if_changed()
            return self._apply(documents, set(), progress, embed)

    def remove(self, doc_id: str) -> UpdateSummary:
        """Delete a document and all its chunks."""
        with storage.write_lock(self.path):
            self._reload_if_changed()
            if doc_id not in self._documents:
                raise IndexingError(f"index '{self.name}' has no document '{doc_id}' "
                                    f"(`wb index info {self.name}` lists the documents)")
            return self._apply([], {doc_id}, progress=None, embed=embed_texts)

    def _reload_if_changed(self) -> None:
        """Another process may have written a version since this one was opened: start from it."""
        if self.version != storage.current_version(self.path):
            self.__dict__.update(Index.load(self.path).__dict__)

    def _apply(self, upserts: list[Document], removals: set[str], progress: ProgressCallback | None,
               embed: EmbedChunks, force_save: bool = False) -> UpdateSummary:
        """Apply the changes and save a new version; the caller holds the write lock."""
        started = time.perf_counter()
        _check_unique(upserts)
        added, replaced, skipped = [], [], 0
        for doc in upserts:
            old = self._documents.get(doc.id)
            if old is not None and old.hash == _content_hash(doc):
                skipped += 1
            else:
                (replaced if old is not None else added).append(doc)
        removals = {d for d in removals if d in self._documents}
        if not (added or replaced or removals or force_save):
            return UpdateSummary(skipped=skipped, chunks_total=len(self._chunks),
                                 seconds=time.perf_counter() - started)
        chunks, vectors, warnings = self._embed(added + replaced, progress, embed)
        try:
            self._replace_in_memory(added + replaced, removals | {d.id for d in replaced}, chunks, vectors)
            self._save()
        except BaseException:
            if self.version is not None:  # undo the in-memory changes: the disk still has the old version
                self.__dict__.update(Index.load(self.path).__dict__)
            raise
        return UpdateSummary(len(added), len(replaced), skipped, len(removals), len(chunks), len(self._chunks),
                             time.perf_counter() - started, warnings=warnings)

    def _embed(self, documents: list[Document], progress: ProgressCallback | None, embed: EmbedChunks
               ) -> tuple[list[Chunk], np.ndarray, tuple[str, ...]]:
        """The documents' chunks, their vectors, and a warning about chunks longer than the embedder reads."""
        if not documents:
            return [], np.zeros((0, self.store.dim), dtype=np.float32), ()
        s = self.settings
        chunks = chunk_documents(documents, s.splitter, s.chunk_size, s.chunk_overlap, s.embedder)
        texts = [c.text for c in chunks]
        too_long = count_truncated(texts, s.embedder)
        warnings: tuple[str, ...] = ()
        if too_long:
            warnings = (f"{too_long} of {len(chunks)} chunks are longer than the embedder's "
                        f"{embedder_window(s.embedder)}-token window and are cut off when embedded: "
                        "use --splitter token or a smaller --chunk-size",)
            log.warning(warnings[0])
        return chunks, embed(texts, s.embedder, s.embed_batch_size, progress), warnings

    def _replace_in_memory(self, documents: list[Document], stale: set[str], chunks: list[Chunk],
                           vectors: np.ndarray) -> None:
        stale_chunks = [i for doc_id in stale for i in self._documents[doc_id].chunk_ids]
        self.store.remove(np.array(stale_chunks, dtype=np.int64))
        for chunk_id in stale_chunks:
            del self._chunks[chunk_id]
        for doc_id in stale:
            del self._documents[doc_id]
        ids = np.arange(self._next_chunk_id, self._next_chunk_id + len(chunks), dtype=np.int64)
        self.store.add(ids, vectors, doc_ids=[chunk.doc_id for chunk in chunks])
        self._next_chunk_id += len(chunks)
        for doc in documents:
            self._documents[doc.id] = _StoredDocument(doc.id, doc.text, doc.metadata, _content_hash(doc))
        for chunk_id, chunk in zip(ids.tolist(), chunks):
            self._chunks[chunk_id] = chunk
            self._documents[chunk.doc_id].chunk_ids.append(chunk_id)
        self._bm25 = None

    def _save(self) -> None:
        documents = [{"id": d.id, "hash": d.hash, "metadata": d.metadata, "text": d.text}
                     for d in self._documents.values()]
        chunks = [{"id": i, "doc_id": c.doc_id, "start": c.start, "end": c.end, "metadata": c.metadata, "text": c.text}
                  for i, c in sorted(self._chunks.items())]
        manifest = {
            "name": self.name, "created_at": self.created_at, "updated_at": _now(),
            "embedder": {"name": self.embedder_name, "dimension": self.store.dim},
            "settings": dataclasses.asdict(self.settings), "store": self.store.params,
            "counts": {"documents": len(self._documents), "chunks": len(self._chunks)},
            "next_chunk_id": self._next_chunk_id,
            "documents": {d.id: {"hash": d.hash, "chunks": len(d.chunk_ids)} for d in self._documents.values()},
        }
        files = {_CHUNKS: encode_jsonl(chunks), _DOCUMENTS: encode_jsonl(documents)}
        if self.store.FILE:
            files[self.store.FILE] = self.store.to_bytes()
        if self.settings.hybrid:  # saved, so that searching never rebuilds it (and it can stay on disk)
            files |= self._keyword_index().files()
        self.version = storage.write_snapshot(self.path, manifest, files)
        self.store.commit(np.fromiter(self._chunks, dtype=np.int64, count=len(self._chunks)))


def build_index(name: str, documents: Iterable[Document] | None = None, *, sources: list[Path] | None = None,
                config: Config, root: Path | None = None, progress: ProgressCallback | None = None, text_field: str = "text",
                text_column: str = "text") -> Index:
    """Make index `name` hold exactly these documents (or those loaded from `sources`).

    An existing index built with the same embedder, chunking and index type is updated in place:
    unchanged documents keep their vectors, so re-building an unchanged corpus embeds nothing.
    Otherwise the index is rebuilt from scratch. `index.last_update` tells what was done.
    """
    path = storage.index_path(Path(root or config.index.root), name)
    embed = chunk_embedding(config.index)  # before any work: a missing package is reported at once
    skipped_files: tuple[SkippedFile, ...] = ()
    if documents is None:
        if sources is None:
            raise ValueError("build_index needs documents or sources")
        loaded = load_documents(sources, text_field=text_field, text_column=text_column, progress=progress)
        documents, skipped_files = loaded.documents, tuple(loaded.skipped)
    documents = list(documents)
    if not documents:
        raise NoDocuments(f"no documents to build index '{name}' from")
    settings = IndexSettings.from_config(config)
    with storage.write_lock(path):
        index, settings_changed = _reusable_index(path, settings)
        index.settings = settings
        index.store.hnsw_ef_search, index.store.ivf_nprobe = settings.hnsw_ef_search, settings.ivf_nprobe
        keep = {doc.id for doc in documents}
        removals = {doc_id for doc_id in index.document_ids() if doc_id not in keep}
        summary = index._apply(documents, removals, progress, embed, force_save=settings_changed)
    index.last_update = dataclasses.replace(summary, skipped_files=skipped_files)
    return index


def _reusable_index(path: Path, settings: IndexSettings) -> tuple[Index, bool]:
    """The existing index when its vectors can be reused with `settings`, else a new empty one;
    and whether the saved settings differ (search parameters or defaults only, for a reused index)."""
    if not storage.index_exists(path):
        return Index.empty(path, settings), True
    try:
        existing = Index.load(path)
    except IndexCorrupt as exc:
        log.warning("%s; building it again from scratch", exc)
        return Index.empty(path, settings), True
    if existing.settings.structural != settings.structural:
        log.info("index '%s' settings changed: re-embedding everything", path.name)
        return Index.empty(path, settings), True
    return existing, existing.settings != settings


def open_index(name: str, root: Path | None = None) -> Index:
    """The index `name` under `root` (default: config's index.root); a clear error if missing or damaged."""
    return Index.load(storage.index_path(Path(root) if root else load_config().index.root, name))


def index_chunks(name: str, root: Path) -> list[Chunk]:
    """The chunks of index `name` under `root`, by id, read without its vectors and keyword index: what
    learning from an index's text needs (every training process reads them, and a Milvus Lite store
    admits one process at a time; a large index's vectors would be read for nothing)."""
    path = storage.index_path(Path(root), name)
    snapshot = storage.read_snapshot(path, required=(_CHUNKS,), only=(_CHUNKS,))
    rows = _rows(path, path / snapshot.version / _CHUNKS, ChunkRow, snapshot.files[_CHUNKS])
    return [Chunk(row.doc_id, row.text, row.start, row.end, row.metadata) for row in sorted(rows, key=lambda r: r.id)]


def list_indexes(root: Path) -> list[dict]:
    """A summary of every index under `root` (damaged ones carry an `error`), by name."""
    root = Path(root)
    summaries = []
    for path in sorted(p for p in root.iterdir() if storage.index_exists(p)) if root.is_dir() else []:
        try:
            version, manifest = storage.read_manifest(path)
        except IndexingError as exc:
            summaries.append({"name": path.name, "error": str(exc)})
            continue
        summaries.append({"name": path.name, "version": version, **manifest.counts.model_dump(),
                          "embedder": manifest.embedder.name, "type": manifest.store.kind,
                          "updated_at": manifest.updated_at,
                          "size_bytes": sum(f.stat().st_size for f in (path / version).iterdir())})
    return summaries


def _vectors_match(stored: set[int], chunks: set[int], strays_allowed: bool) -> bool:
    """Every chunk has a vector, and no other vector is stored unless the store may hold strays."""
    return stored >= chunks if strays_allowed else stored == chunks


def _rows(index: Path, file: Path, schema: type, data: bytes) -> list:
    try:
        return parse_jsonl(schema, data)
    except SchemaViolation as exc:
        raise storage.damaged(index, file, str(exc)) from None


def _content_hash(doc: Document) -> str:
    payload = json.dumps({"text": doc.text, "metadata": doc.metadata}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_unique(documents: list[Document]) -> None:
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:
            raise IndexingError(f"document id '{doc.id}' appears twice; document ids must be unique")
        seen.add(doc.id)


def _matches(chunk: Chunk, key: str, values: list) -> bool:
    """Equality with any accepted value; a string filter also matches a number (from the command line)."""
    have = chunk.doc_id if key == "doc_id" else chunk.metadata.get(key)
    return have is not None and any(have == v or (isinstance(v, str) and str(have) == v) for v in values)


def _ids(ranking: list[tuple[int, float]]) -> list[int]:
    return [chunk_id for chunk_id, _ in ranking]


def _ranks(ranking: list[tuple[int, float]]) -> dict[int, tuple[int, float]]:
    """chunk id → (rank from 1, score)."""
    return {chunk_id: (rank, score) for rank, (chunk_id, score) in enumerate(ranking, start=1)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
