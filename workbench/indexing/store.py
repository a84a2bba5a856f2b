"""`VectorStore`: a FAISS index of normalized vectors keyed by our own int64 ids (inner product = cosine).

Ids never shift when others are deleted:
- `flat`: exact search, the default; deletes in place.
- `hnsw`: a graph, fast approximate search; FAISS cannot delete from it, so a delete rebuilds it.
- `ivf`: inverted lists around k-means centroids; deletes rebuild the lists (the centroids are kept).
- `ivfpq`: ivf whose vectors are compressed by product quantization to `pq_m` codes of `pq_nbits` each
  (48 bytes instead of 1536 for 384 dimensions), for corpora whose flat vectors do not fit in memory.
  FAISS keeps our ids in its inverted lists and deletes from them in place: a rebuild would re-encode
  the codes from their own approximations, and the `IndexIDMap2` the other kinds sit in would keep a
  hash table of ids about as large as the codes.

ivf and ivfpq are trained by their first `add` on `train_sample` vectors drawn at random (seeded by
`train_seed`) from it, so the same corpus trains the same index whatever its order. Training needs about
39 vectors per list (and, for ivfpq, per code value), so small corpora get fewer lists and a corpus too
small for even two is refused with a clear message. ivfpq then encodes its vectors in shards of
`shard_size`, each an empty copy of the trained index (`empty_shard`) merged into it (`merge`), so the
float vectors of only one shard are in memory at a time (give `add` a `np.memmap` of a corpus larger
than memory) and shards can be filled in other processes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import faiss
import numpy as np

from workbench.indexing.errors import IndexBuildError

if TYPE_CHECKING:
    from workbench.indexing.manifest import IndexSettings

Kind = Literal["flat", "hnsw", "ivf", "ivfpq"]
KINDS = ("flat", "hnsw", "ivf", "ivfpq")
TRAINED = ("ivf", "ivfpq")  # created by their first `add`, which trains them
MIN_VECTORS_PER_LIST = 39  # below this FAISS's k-means warns that centroids are poorly trained
HNSW_EF_CONSTRUCTION = 80
_OPTIONS = ("hnsw_m", "hnsw_ef_search", "ivf_nlist", "ivf_nprobe", "train_sample", "train_seed", "pq_m",
            "pq_nbits", "shard_size")


class VectorStore:
    FILE = "vectors.faiss"  # its file in an index version (FAISS's own binary format)
    KEEPS_STRAYS = False  # saved with the index's other files: holds exactly the version's chunks

    def __init__(self, dim: int, kind: Kind = "flat", *, hnsw_m: int = 32, hnsw_ef_search: int = 64,
                 ivf_nlist: int = 0, ivf_nprobe: int = 16, train_sample: int = 100_000, train_seed: int = 0,
                 pq_m: int = 0, pq_nbits: int = 8, shard_size: int = 100_000):
        if kind not in KINDS:
            raise IndexBuildError(f"unknown index type '{kind}' (choose one of: {', '.join(KINDS)})")
        if kind == "ivfpq" and dim % (pq_m or 8):
            raise IndexBuildError(f"ivfpq splits each vector into pq_m parts: {pq_m or 'the default dimension / 8'} "
                                  f"does not divide the dimension {dim}; set index.pq_m to a divisor of {dim}")
        self.dim, self.kind = dim, kind
        self.hnsw_m, self.ivf_nlist = hnsw_m, ivf_nlist
        self.train_sample, self.train_seed, self.shard_size = train_sample, train_seed, shard_size
        self.pq_m, self.pq_nbits = pq_m or dim // 8, pq_nbits
        self._hnsw_ef_search, self._ivf_nprobe = hnsw_ef_search, ivf_nprobe
        self._trained_on: int | None = None
        self._index = None if kind in TRAINED else self._new_index()
        self._apply_search_params()

    @classmethod
    def create(cls, dim: int, settings: IndexSettings, folder: Path) -> VectorStore:
        """An empty store for an index built with `settings` (`folder`, the index's, is for stores that keep files)."""
        return cls(dim, settings.type, **{option: getattr(settings, option) for option in _OPTIONS})

    # --- search-time parameters, changeable without rebuilding ---------------------------------

    @property
    def hnsw_ef_search(self) -> int:
        return self._hnsw_ef_search

    @hnsw_ef_search.setter
    def hnsw_ef_search(self, value: int) -> None:
        self._hnsw_ef_search = value
        self._apply_search_params()

    @property
    def ivf_nprobe(self) -> int:
        return self._ivf_nprobe

    @ivf_nprobe.setter
    def ivf_nprobe(self, value: int) -> None:
        self._ivf_nprobe = value
        self._apply_search_params()

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def params(self) -> dict:
        """What rebuilds this store: kind and parameters (recorded in the index manifest)."""
        params = {"store": "faiss", "kind": self.kind, "dim": self.dim}
        if self.kind == "hnsw":
            params |= {"hnsw_m": self.hnsw_m, "hnsw_ef_search": self.hnsw_ef_search}
        if self.kind in TRAINED:
            params |= {"ivf_nlist": self.ivf_nlist, "ivf_nprobe": self.ivf_nprobe, "train_sample": self.train_sample,
                       "train_seed": self.train_seed, "trained_on": self._trained_on,
                       "trained_nlist": self._ivf().nlist if self._index is not None else None}
        if self.kind == "ivfpq":
            params |= {"pq_m": self.pq_m, "pq_nbits": self.pq_nbits, "shard_size": self.shard_size}
        return params

    def ids(self) -> np.ndarray:
        if self._index is None:
            return np.zeros(0, np.int64)
        if self.kind != "ivfpq":
            return faiss.vector_to_array(self._index.id_map)
        lists = self._index.invlists
        return np.concatenate([np.zeros(0, np.int64)] + [_list_ids(lists, i) for i in range(lists.nlist)])

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, one row each (for exact re-scoring or copying to another store);
        for ivfpq, their decoded approximations."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._index is None or len(ids) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self.kind != "ivfpq":
            return self._index.reconstruct_batch(ids)
        return self._decoded(ids)

    # --- updates -------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray, doc_ids: list[str] | None = None) -> None:
        """Store `vectors` (float32 rows, e.g. a `np.memmap`) under `ids`; `doc_ids` is for stores that
        keep each vector's document beside it (FAISS does not)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected {len(ids)} vectors of dimension {self.dim}, got shape {vectors.shape}")
        if len(ids) == 0:
            return
        if self._index is None:
            self._index = self._new_index(training=self._training_sample(vectors))
            self._apply_search_params()
        if self.kind != "ivfpq":
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            return
        for start in range(0, len(ids), self.shard_size):
            part = slice(start, start + self.shard_size)
            shard = self.empty_shard()
            shard._index.add_with_ids(np.ascontiguousarray(vectors[part], dtype=np.float32), ids[part])
            self.merge(shard)

    def empty_shard(self) -> VectorStore:
        """An empty ivfpq store sharing this one's trained centroids and codebooks, to fill (`add`) here or
        in another process (`to_bytes`) and `merge` back."""
        if self.kind != "ivfpq" or self._index is None:
            raise ValueError("only a trained ivfpq store has shards")
        shard = VectorStore.from_bytes(b"", self.params)
        shard._index, shard._trained_on = faiss.clone_index(self._index), self._trained_on
        shard._index.reset()
        shard._apply_search_params()
        return shard

    def merge(self, shard: VectorStore) -> None:
        """Move a filled shard's vectors into this store (the shard is left empty); their ids must be new here,
        and the shard must come from `empty_shard` (faiss checks the lists and code sizes, not the centroids)."""
        self._index.merge_from(shard._index, 0)

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids (unknown ids are ignored); returns how many were deleted."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._index is None or len(ids) == 0:
            return 0
        if self.kind in ("flat", "ivfpq"):
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        all_ids = self.ids()
        keep = ~np.isin(all_ids, ids)
        vectors = self._inner().reconstruct_n(0, self.ntotal)
        rebuilt = self._new_index(trained=self._index if self.kind == "ivf" else None)
        rebuilt.add_with_ids(vectors[keep], all_ids[keep])
        self._index = rebuilt
        self._apply_search_params()
        return int((~keep).sum())

    # --- search --------------------------------------------------------------------------------

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (queries, k); ids are -1 where fewer than k vectors exist."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if self._index is None or self.ntotal == 0:
            return np.full((len(vectors), k), -np.inf, np.float32), np.full((len(vectors), k), -1, np.int64)
        return self._index.search(vectors, k)

    def search_subset(self, vectors: np.ndarray, k: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search restricted to `ids`: returns min(k, len(ids)) results whenever they exist,
        which an approximate index searched with a filter cannot promise."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids if self._index is not None else [], dtype=np.int64)
        return exact_top_k(vectors, self.vectors(ids), ids, k)

    # --- persistence (FAISS's own binary format: no pickle) ------------------------------------

    def to_bytes(self) -> bytes:
        return b"" if self._index is None else faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, params: dict) -> VectorStore:
        store = cls(params["dim"], params["kind"], **{k: params[k] for k in _OPTIONS if params.get(k) is not None})
        store._trained_on = params.get("trained_on")
        if data:
            store._index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            expected = faiss.IndexIVFPQ if store.kind == "ivfpq" else faiss.IndexIDMap2
            if store._index.d != store.dim or not isinstance(store._index, expected):
                raise ValueError(f"expected an {expected.__name__} of dimension {store.dim}")
            store._apply_search_params()
        return store

    @classmethod
    def load(cls, data: bytes, params: dict, folder: Path) -> VectorStore:
        """The store saved as `data` (its `FILE`) with these `params` (`folder`: as for `create`)."""
        return cls.from_bytes(data, params)

    def commit(self, live_ids: np.ndarray) -> None:
        """Called once the index version holding this store is current: nothing to do, the file is in it."""

    # --- internals -----------------------------------------------------------------------------

    def _inner(self):
        return faiss.downcast_index(self._index.index)

    def _ivf(self):
        return self._index if self.kind == "ivfpq" else self._inner()

    def _training_sample(self, vectors: np.ndarray) -> np.ndarray | None:
        """`train_sample` rows drawn at random (seeded), at least the minimum training needs, read in
        order so that a memory-mapped corpus is read once."""
        if self.kind not in TRAINED:
            return None
        n = len(vectors)
        size = min(n, max(self.train_sample, self._min_training()))
        rows = np.sort(np.random.default_rng(self.train_seed).choice(n, size, replace=False))
        self._trained_on = size
        return np.ascontiguousarray(vectors[rows], dtype=np.float32)

    def _min_training(self) -> int:
        """Vectors needed to train: 39 per list, and for ivfpq 39 per code value of each sub-quantizer."""
        needed = max(2, self.ivf_nlist) * MIN_VECTORS_PER_LIST
        return max(needed, 2 ** self.pq_nbits * MIN_VECTORS_PER_LIST) if self.kind == "ivfpq" else needed

    def _decoded(self, ids: np.ndarray) -> np.ndarray:
        """ivfpq vectors by id: found by scanning the lists' ids (no id table is kept), then decoded."""
        rows = {int(i): row for row, i in enumerate(ids)}
        out = np.zeros((len(ids), self.dim), np.float32)
        lists = self._index.invlists
        for list_no in range(lists.nlist):
            list_ids = _list_ids(lists, list_no)
            for offset in np.flatnonzero(np.isin(list_ids, ids)):
                row = rows.pop(int(list_ids[offset]))
                self._index.reconstruct_from_offset(list_no, int(offset), faiss.swig_ptr(out[row]))
        if rows:
            raise ValueError(f"ids not in the store: {sorted(rows)[:5]}")
        return out

    def _new_index(self, training: np.ndarray | None = None, trained: faiss.IndexIDMap2 | None = None):
        if self.kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        elif self.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        elif trained is not None:
            inner = faiss.clone_index(faiss.downcast_index(trained.index))
            inner.reset()
        else:
            inner = self._trained_ivf(training)
        if self.kind == "ivfpq":
            return inner  # keeps our ids itself (see the module's docstring)
        if self.kind == "ivf":
            inner.make_direct_map()  # lets a delete read the surviving vectors back
        return faiss.IndexIDMap2(inner)  # faiss's Python wrapper keeps `inner` alive with it

    def _trained_ivf(self, training: np.ndarray):
        n, needed = len(training), self._min_training()  # an explicit nlist is honoured or refused
        if n < needed:
            lists = f"{self.ivf_nlist} lists" if self.ivf_nlist else "at least 2 lists"
            codes = f" and {2 ** self.pq_nbits} codes of {self.pq_nbits} bits" if self.kind == "ivfpq" else ""
            raise IndexBuildError(
                f"an {self.kind} index with {lists}{codes} needs at least {needed} chunks to train "
                f"({MIN_VECTORS_PER_LIST} per list{' and per code' if codes else ''}); this corpus has {n}: "
                "use --type flat (exact, and fast at this size)"
                + (" or a smaller index.ivf_nlist" if self.ivf_nlist else "")
                + (" or a smaller index.pq_nbits" if codes else ""))
        nlist = self.ivf_nlist or min(round(4 * math.sqrt(n)), n // MIN_VECTORS_PER_LIST)
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.kind == "ivfpq":
            inner = faiss.IndexIVFPQ(quantizer, self.dim, nlist, self.pq_m, self.pq_nbits, faiss.METRIC_INNER_PRODUCT)
        else:
            inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        inner.train(training)
        return inner

    def _apply_search_params(self) -> None:
        if self._index is None:
            return
        if self.kind == "hnsw":
            self._inner().hnsw.efSearch = self._hnsw_ef_search
        elif self.kind in TRAINED:
            self._ivf().nprobe = self._ivf_nprobe


def exact_top_k(queries: np.ndarray, candidates: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the `k` candidates with the highest inner product per query, padded with -inf / -1."""
    scores = np.full((len(queries), k), -np.inf, np.float32)
    found = np.full((len(queries), k), -1, np.int64)
    similarity = queries @ candidates.T
    n = min(k, len(ids))
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :n]
    scores[:, :n] = np.take_along_axis(similarity, top, axis=1)
    found[:, :n] = ids[top]
    return scores, found


def _list_ids(lists, list_no: int) -> np.ndarray:
    return faiss.rev_swig_ptr(lists.get_ids(list_no), lists.list_size(list_no)).copy()
