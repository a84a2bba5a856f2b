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
    """BM25 (Okapi) over chunk texts, returning chunk ids."""

    def __init__(self, ids: np.ndarray, texts: Sequence[str]):
        from rank_bm25 import BM25Okapi

        self._ids = np.asarray(ids, dtype=np.int64)
        self._bm25 = BM25Okapi([tokenize(t) for t in texts]) if len(texts) else None

    def top(self, query: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(id, BM25 score) of the best `n` chunks sharing at least one term with `query`, best first,
        among `allowed` if given; the scores are kept for `Index.explain`."""
        if self._bm25 is None:
            return []
        scores = self._bm25.get_scores(tokenize(query))
        if allowed is not None:
            scores = np.where(np.isin(self._ids, allowed), scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(int(self._ids[i]), float(scores[i])) for i in order if scores[i] > 0]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """(id, fused score) best first, where score = sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])
