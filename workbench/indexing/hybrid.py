"""Keyword retrieval (BM25) and reciprocal rank fusion, for hybrid search: BM25 finds exact names and
rare terms that a small embedder blurs; the fusion needs no score calibration between the two."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

RRF_K = 60  # the constant of Cormack et al. (2009): damps the weight of the very first ranks
_TOKEN = re.compile(r"\w+")
BM25_FILE_PREFIX = "bm25."  # its files in an index version
# bm25s's file names, in one folder with the index's other files: the score matrix in three .npy arrays
# (memory-mapped when opened), its vocabulary and its parameters
_FILES = {"data_name": "bm25.data.npy", "indices_name": "bm25.indices.npy", "indptr_name": "bm25.indptr.npy",
          "vocab_name": "bm25.vocab.json", "params_name": "bm25.params.json"}


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class Bm25:
    """BM25 over chunk texts, returning chunk ids. bm25s precomputes every (term, chunk) score into a
    sparse matrix, so a query sums a few of its rows instead of scoring every chunk in Python."""

    def __init__(self, ids: np.ndarray, texts: Sequence[str]):
        import bm25s

        self._ids = np.asarray(ids, dtype=np.int64)
        self._bm25 = None
        if len(texts):
            self._bm25 = bm25s.BM25()
            self._bm25.index([tokenize(t) for t in texts], show_progress=False)

    @property
    def memory_mapped(self) -> bool:
        return self._bm25 is not None and isinstance(self._bm25.scores["data"], np.memmap)

    def files(self) -> dict[str, bytes]:
        """Its files for an index version (none when it holds no chunk)."""
        if self._bm25 is None:
            return {}
        with tempfile.TemporaryDirectory() as folder:
            self._bm25.save(folder, show_progress=False, **_FILES)
            return {name: (Path(folder) / name).read_bytes() for name in _FILES.values()}

    @classmethod
    def open(cls, folder: Path, ids: np.ndarray, mmap: bool = True) -> Bm25:
        """The BM25 saved by `files` in `folder`, over these chunk ids (in the order it was built with). Its
        score matrix stays on disk, memory-mapped (`mmap`): a query reads the rows of its terms only."""
        import bm25s

        keyword = cls(ids, [])
        keyword._bm25 = bm25s.BM25.load(folder, mmap=mmap, show_progress=False, **_FILES)
        if keyword._bm25.scores["num_docs"] != len(keyword._ids):
            raise ValueError(f"it scores {keyword._bm25.scores['num_docs']} chunks, the index holds {len(keyword._ids)}")
        return keyword

    def top(self, query: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(id, BM25 score) of the best `n` chunks sharing at least one term with `query`, best first,
        among `allowed` if given; the scores are kept for `Index.explain`."""
        terms = [term for term in tokenize(query) if term in self._vocabulary()]
        if not terms:
            return []
        scores = self._bm25.get_scores(terms)
        if allowed is not None:
            scores = np.where(np.isin(self._ids, allowed), scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > n:
            candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]  # best first, ties by position
        return [(int(self._ids[i]), float(scores[i])) for i in order]

    def _vocabulary(self) -> dict:
        return self._bm25.vocab_dict if self._bm25 is not None else {}


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """(id, fused score) best first, where score = sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])
