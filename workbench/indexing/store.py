"""`VectorStore`: a FAISS index of normalized vectors keyed by our own int64 ids (inner product = cosine).

Every kind sits in an `IndexIDMap2`, so ids never shift when others are deleted:
- `flat`: exact search, the default; deletes in place.
- `hnsw`: a graph, fast approximate search; FAISS cannot delete from it, so a delete rebuilds it.
- `ivf`: inverted lists around k-means centroids trained on the first vectors added; deletes rebuild the
  lists (the centroids are kept). Training needs about 39 vectors per list, so small corpora get fewer
  lists, and a corpus too small for even two lists is refused with a clear message.
"""

from __future__ import annotations

import math
from typing import Literal

import faiss
import numpy as np

from workbench.indexing.errors import IndexBuildError

Kind = Literal["flat", "hnsw", "ivf"]
KINDS = ("flat", "hnsw", "ivf")
MIN_VECTORS_PER_LIST = 39  # below this FAISS's k-means warns that centroids are poorly trained
HNSW_EF_CONSTRUCTION = 80


class VectorStore:
    def __init__(self, dim: int, kind: Kind = "flat", *, hnsw_m: int = 32, hnsw_ef_search: int = 64,
                 ivf_nlist: int = 0, ivf_nprobe: int = 16):
        if kind not in KINDS:
            raise IndexBuildError(f"unknown index type '{kind}' (choose one of: {', '.join(KINDS)})")
        self.dim, self.kind = dim, kind
        self.hnsw_m, self.ivf_nlist = hnsw_m, ivf_nlist
        self._hnsw_ef_search, self._ivf_nprobe = hnsw_ef_search, ivf_nprobe
        # An IVF index is created by its first `add`, which trains it on those vectors.
        self._index: faiss.IndexIDMap2 | None = None if kind == "ivf" else self._new_index()
        self._apply_search_params()

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
        params = {"kind": self.kind, "dim": self.dim}
        if self.kind == "hnsw":
            params |= {"hnsw_m": self.hnsw_m, "hnsw_ef_search": self.hnsw_ef_search}
        if self.kind == "ivf":
            params |= {"ivf_nlist": self.ivf_nlist, "ivf_nprobe": self.ivf_nprobe,
                       "trained_nlist": self._inner().nlist if self._index is not None else None}
        return params

    def ids(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self._index is None else faiss.vector_to_array(self._index.id_map)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, one row each (for exact re-scoring or copying to another store)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._index is None or len(ids) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._index.reconstruct_batch(ids)

    # --- updates -------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected {len(ids)} vectors of dimension {self.dim}, got shape {vectors.shape}")
        if len(ids) == 0:
            return
        if self._index is None:
            self._index = self._new_index(training=vectors)
            self._apply_search_params()
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids (unknown ids are ignored); returns how many were deleted."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._index is None or len(ids) == 0:
            return 0
        if self.kind == "flat":
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
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        scores = np.full((len(vectors), k), -np.inf, np.float32)
        found = np.full((len(vectors), k), -1, np.int64)
        if self._index is None or len(ids) == 0:
            return scores, found
        similarity = vectors @ self.vectors(ids).T
        n = min(k, len(ids))
        top = np.argsort(-similarity, axis=1, kind="stable")[:, :n]
        scores[:, :n] = np.take_along_axis(similarity, top, axis=1)
        found[:, :n] = ids[top]
        return scores, found

    # --- persistence (FAISS's own binary format: no pickle) ------------------------------------

    def to_bytes(self) -> bytes:
        return b"" if self._index is None else faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, params: dict) -> VectorStore:
        store = cls(params["dim"], params["kind"], hnsw_m=params.get("hnsw_m", 32),
                    hnsw_ef_search=params.get("hnsw_ef_search", 64), ivf_nlist=params.get("ivf_nlist", 0),
                    ivf_nprobe=params.get("ivf_nprobe", 16))
        if data:
            store._index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            if store._index.d != store.dim or not isinstance(store._index, faiss.IndexIDMap2):
                raise ValueError(f"expected an IndexIDMap2 of dimension {store.dim}")
            store._apply_search_params()
        return store

    # --- internals -----------------------------------------------------------------------------

    def _inner(self):
        return faiss.downcast_index(self._index.index)

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
        if self.kind == "ivf":
            inner.make_direct_map()  # lets a delete read the surviving vectors back
        return faiss.IndexIDMap2(inner)  # faiss's Python wrapper keeps `inner` alive with it

    def _trained_ivf(self, training: np.ndarray):
        n = len(training)
        needed = max(2, self.ivf_nlist) * MIN_VECTORS_PER_LIST  # an explicit nlist is honoured or refused
        if n < needed:
            lists = f"{self.ivf_nlist} lists" if self.ivf_nlist else "at least 2 lists"
            raise IndexBuildError(
                f"an ivf index with {lists} needs at least {needed} chunks to train ({MIN_VECTORS_PER_LIST} "
                f"per list); this corpus has {n}: use --type flat (exact, and fast at this size)"
                + (" or a smaller index.ivf_nlist" if self.ivf_nlist else ""))
        nlist = self.ivf_nlist or min(round(4 * math.sqrt(n)), n // MIN_VECTORS_PER_LIST)
        quantizer = faiss.IndexFlatIP(self.dim)
        inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        inner.train(training)
        return inner

    def _apply_search_params(self) -> None:
        if self._index is None:
            return
        if self.kind == "hnsw":
            self._inner().hnsw.efSearch = self._hnsw_ef_search
        elif self.kind == "ivf":
            self._inner().nprobe = self._ivf_nprobe
