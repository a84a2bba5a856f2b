"""Keyword retrieval (BM25) and reciprocal rank fusion, for hybrid search: BM25 finds exact names and
rare terms that a small embedder blurs; the fusion needs no score calibration between the two."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

RRF_K = 60  # the constant of Cormack et al. (2009): damps the weight of the very first ranks
_TOKEN = re.compile(r"\w+")


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
