"""`MilvusStore`: an index's dense vectors in a Milvus database, behind `VectorStore`'s interface, for
corpora beyond one machine's memory (a Milvus cluster shards a collection over its nodes).

`index.milvus_uri` null keeps them in Milvus Lite, a file in the index's folder (`milvus.db`, opened by
one process at a time); `http://HOST:19530` reaches a Milvus server or cluster. Each row holds a chunk's
id, its vector and its document id; the chunks' texts stay in the index's versions on disk, which hold
no vector file but name the collection in their manifest. So that a writer killed mid-update never
leaves the current version without its vectors:
- new vectors are written at once: their chunk ids are new, and readers ignore ids their version lacks;
- deletions wait for `commit`, called once the new version is current;
- an index built anew fills a new collection, and `commit` drops the index's older ones;
- `commit` also deletes rows that the current version does not hold (left by a writer that was killed).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.indexing.errors import IndexBuildError
from workbench.indexing.store import HNSW_EF_CONSTRUCTION, KINDS, exact_top_k

if TYPE_CHECKING:
    from workbench.indexing.manifest import IndexSettings

LITE_FILE = "milvus.db"
BATCH = 5_000  # rows per insert or delete request (well under gRPC's message size)
DEFAULT_NLIST = 1024  # Milvus builds its lists before it knows the corpus: index.ivf_nlist 0 means this
_VECTOR, _DOC_ID, _ID = "vector", "doc_id", "id"


class MilvusStore:
    FILE = None  # no file in the index version: the vectors live in Milvus
    KEEPS_STRAYS = True  # may hold rows the current version does not (see the module's docstring)

    def __init__(self, folder: Path, params: dict):
        try:
            from pymilvus import MilvusClient, MilvusException
        except ImportError:
            raise IndexBuildError("index.store: milvus needs pymilvus and milvus-lite: "
                                  "pip install 'workbench[scale]'") from None
        self.folder, self.kind, self.dim = Path(folder), params["kind"], params["dim"]
        if self.kind not in KINDS:
            raise IndexBuildError(f"unknown index type '{self.kind}' (choose one of: {', '.join(KINDS)})")
        self.milvus_uri, self.collection = params.get("milvus_uri"), params["collection"]
        self.hnsw_m, self.ivf_nlist = params.get("hnsw_m", 32), params.get("ivf_nlist", 0)
        self.pq_m, self.pq_nbits = params.get("pq_m") or self.dim // 8, params.get("pq_nbits", 8)
        self.hnsw_ef_search, self.ivf_nprobe = params.get("hnsw_ef_search", 64), params.get("ivf_nprobe", 16)
        self._pending: set[int] = set()  # deleted, applied by `commit`
        uri = self.milvus_uri or str(self.folder / LITE_FILE)
        try:
            self._client = MilvusClient(uri)
        except MilvusException as exc:
            raise IndexBuildError(f"cannot open Milvus at {uri}: {exc} (a Milvus Lite file is opened by one "
                                  "process at a time; index.milvus_uri: http://HOST:19530 shares a server)") from None

    @classmethod
    def create(cls, dim: int, settings: IndexSettings, folder: Path) -> MilvusStore:
        """A new, empty collection for the index in `folder`."""
        params = {"kind": settings.type, "dim": dim, "milvus_uri": settings.milvus_uri, "hnsw_m": settings.hnsw_m,
                  "ivf_nlist": settings.ivf_nlist, "pq_m": settings.pq_m, "pq_nbits": settings.pq_nbits,
                  "hnsw_ef_search": settings.hnsw_ef_search, "ivf_nprobe": settings.ivf_nprobe,
                  "collection": f"{_prefix(Path(folder))}{uuid.uuid4().hex[:8]}"}
        store = cls(folder, params)
        store._create_collection()
        return store

    @classmethod
    def load(cls, data: bytes, params: dict, folder: Path) -> MilvusStore:
        store = cls(folder, params)
        if not store._client.has_collection(store.collection):
            raise ValueError(f"Milvus at {store.milvus_uri or folder / LITE_FILE} has no collection {store.collection}")
        store._client.load_collection(store.collection)  # a Milvus started anew holds it released: unsearchable
        return store

    @property
    def params(self) -> dict:
        return {"store": "milvus", "kind": self.kind, "dim": self.dim, "milvus_uri": self.milvus_uri,
                "collection": self.collection, "hnsw_m": self.hnsw_m, "hnsw_ef_search": self.hnsw_ef_search,
                "ivf_nlist": self.ivf_nlist, "ivf_nprobe": self.ivf_nprobe, "pq_m": self.pq_m, "pq_nbits": self.pq_nbits}

    @property
    def ntotal(self) -> int:
        return self._count() - len(self._pending)  # pending ids are all present (`remove`)

    def ids(self) -> np.ndarray:
        found = []
        iterator = self._client.query_iterator(self.collection, batch_size=BATCH, filter="", output_fields=[_ID])
        while batch := iterator.next():
            found += [row[_ID] for row in batch]
        iterator.close()
        ids = np.array(found, dtype=np.int64)
        return ids[~np.isin(ids, list(self._pending))]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self.dim), np.float32)
        rows = {}
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH].tolist()
            rows |= {r[_ID]: r[_VECTOR] for r in self._client.get(self.collection, ids=batch, output_fields=[_VECTOR])}
        missing = [int(i) for i in ids if int(i) not in rows or int(i) in self._pending]
        if missing:
            raise ValueError(f"ids not in the store: {missing[:5]}")
        for row, i in enumerate(ids.tolist()):
            out[row] = rows[i]
        return out

    # --- updates -------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray, doc_ids: list[str] | None = None) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected {len(ids)} vectors of dimension {self.dim}, got shape {vectors.shape}")
        ids = np.asarray(ids, dtype=np.int64).tolist()
        doc_ids = doc_ids if doc_ids is not None else [""] * len(ids)
        for start in range(0, len(ids), BATCH):
            part = slice(start, start + BATCH)
            block = np.asarray(vectors[part], dtype=np.float32).tolist()
            # upsert: a killed writer may have left a row under an id that is handed out again
            self._client.upsert(self.collection, [{_ID: i, _VECTOR: v, _DOC_ID: d}
                                                  for i, v, d in zip(ids[part], block, doc_ids[part])])
        self._pending -= set(ids)

    def remove(self, ids: np.ndarray) -> int:
        """Mark these ids deleted (unknown ones are ignored); Milvus deletes them at `commit`."""
        ids = np.asarray(ids, dtype=np.int64)
        present = {r[_ID] for start in range(0, len(ids), BATCH)
                   for r in self._client.get(self.collection, ids=ids[start:start + BATCH].tolist(), output_fields=[_ID])}
        present -= self._pending
        self._pending |= present
        return len(present)

    def commit(self, live_ids: np.ndarray) -> None:
        """The version holding exactly `live_ids` is current: apply the deletions, drop what it does not hold."""
        stray = set(self._pending)
        if self.ntotal != len(live_ids):  # rows left by a killed writer: find them (a scan of every id)
            stored = self.ids()
            stray |= set(stored[~np.isin(stored, live_ids)].tolist())
        stray_ids = sorted(stray)
        for start in range(0, len(stray_ids), BATCH):
            self._client.delete(self.collection, ids=stray_ids[start:start + BATCH])
        self._pending.clear()
        prefix = _prefix(self.folder)
        for name in self._client.list_collections():
            if name.startswith(prefix) and name != self.collection:
                self._client.drop_collection(name)

    # --- search --------------------------------------------------------------------------------

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        scores = np.full((len(vectors), k), -np.inf, np.float32)
        found = np.full((len(vectors), k), -1, np.int64)
        results = self._client.search(self.collection, data=vectors.tolist(), limit=k + len(self._pending),
                                      anns_field=_VECTOR, output_fields=[_ID], search_params=self._search_params())
        for row, hits in enumerate(results):
            kept = [hit for hit in hits if hit[_ID] not in self._pending][:k]
            found[row, :len(kept)] = [hit[_ID] for hit in kept]
            scores[row, :len(kept)] = [hit["distance"] for hit in kept]
        return scores, found

    def search_subset(self, vectors: np.ndarray, k: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search restricted to `ids`, scored here on their stored vectors."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.asarray(ids, dtype=np.int64)
        return exact_top_k(vectors, self.vectors(ids), ids, k)

    # --- internals -----------------------------------------------------------------------------

    def _count(self) -> int:
        return int(self._client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def _create_collection(self) -> None:
        from pymilvus import DataType, MilvusClient, MilvusException

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(_ID, DataType.INT64, is_primary=True)
        schema.add_field(_VECTOR, DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field(_DOC_ID, DataType.VARCHAR, max_length=4096)
        index_type, build = self._index_params()
        lite = self.milvus_uri is None or self.milvus_uri.endswith(".db")
        if index_type == "IVF_PQ" and lite:  # it would log a traceback and scan everything
            raise IndexBuildError("Milvus Lite cannot build IVF_PQ (index.type ivfpq): choose flat, hnsw or ivf "
                                  "with index.store: milvus, or set index.milvus_uri to a Milvus server")
        index = self._client.prepare_index_params()
        index.add_index(field_name=_VECTOR, index_type=index_type, metric_type="IP", params=build)
        try:
            self._client.create_collection(self.collection, schema=schema, index_params=index)
        except MilvusException as exc:
            raise IndexBuildError(f"Milvus cannot build a {index_type} index: {exc}; "
                                  "choose another index.type for index.store: milvus") from None

    def _index_params(self) -> tuple[str, dict]:
        nlist = self.ivf_nlist or DEFAULT_NLIST
        return {"flat": ("FLAT", {}),
                "hnsw": ("HNSW", {"M": self.hnsw_m, "efConstruction": HNSW_EF_CONSTRUCTION}),
                "ivf": ("IVF_FLAT", {"nlist": nlist}),
                "ivfpq": ("IVF_PQ", {"nlist": nlist, "m": self.pq_m, "nbits": self.pq_nbits})}[self.kind]

    def _search_params(self) -> dict:
        params = {"hnsw": {"ef": self.hnsw_ef_search}, "ivf": {"nprobe": self.ivf_nprobe},
                  "ivfpq": {"nprobe": self.ivf_nprobe}}.get(self.kind, {})
        return {"metric_type": "IP", "params": params}


def _prefix(folder: Path) -> str:
    """The start of the names of the collections of the index in `folder`: its name as Milvus allows
    (letters, digits, '_') and a hash of its full path, so that 'a.b' and 'a_b', or two index roots
    sharing one server, never drop each other's collections."""
    readable = re.sub(r"\W", "_", folder.name)
    return f"wb_{readable}_{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]}_"
