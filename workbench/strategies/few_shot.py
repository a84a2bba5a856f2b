"""Few-shot: k solved QA pairs shown as earlier chat turns, chosen at random (seeded per question,
so a batch and a single call pick the same ones) or by semantic similarity to the question.
The evaluated pair itself is never shown (excluded by id and by identical question text), nor any other
question on the same paragraph (same doc_id), whose answer would often be the answer sought."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Literal

import numpy as np

from workbench.corpus import QAPair
from workbench.errors import WorkbenchError
from workbench.strategies.answer import Demonstration
from workbench.strategies.base import Context, Strategy

Selection = Literal["random", "similar"]
SELECTIONS: tuple[str, ...] = ("random", "similar")


class FewShotError(WorkbenchError):
    pass


def _same_text(question: str) -> str:
    return " ".join(question.lower().split())


@functools.lru_cache(maxsize=4)
def _pool_store(embedder: str, questions: tuple[str, ...]):
    """The pool's questions embedded once per process: a server builds a FewShot per request, and
    embedding a pool of a thousand questions takes seconds on a CPU."""
    from workbench.indexing import VectorStore, embed_texts

    vectors = embed_texts(list(questions), embedder=embedder)
    store = VectorStore(vectors.shape[1])
    store.add(np.arange(len(questions), dtype=np.int64), vectors)
    return store


class FewShot(Strategy):
    name = "few-shot"

    @classmethod
    def from_factory(cls, factory, **common) -> FewShot:
        strategies = factory.config.strategies
        return cls(**common, pool=factory.demonstration_pool, k=strategies.shots, selection=strategies.shot_selection,
                   seed=factory.config.training.seed, embedder=factory.config.models.embedder)

    def __init__(self, *args, pool: Sequence[QAPair], k: int = 3, selection: Selection = "random",
                 seed: int = 42, embedder: str = "minilm", **kwargs):
        super().__init__(*args, **kwargs)
        if selection not in SELECTIONS:
            raise FewShotError(f"unknown shot selection '{selection}' (use {' or '.join(SELECTIONS)})")
        if k < 1:
            raise FewShotError(f"few-shot needs at least one demonstration, got k={k}")
        if not pool:
            raise FewShotError("the demonstration pool is empty: give a QA file with --demonstrations")
        self.pool = list(pool)
        self._pool_texts = [_same_text(p.question) for p in self.pool]
        self.k, self.selection, self.seed, self.embedder = k, selection, seed, embedder
        self._store = _pool_store(embedder, tuple(p.question for p in self.pool)) if selection == "similar" else None

    def _excluded(self, pair: QAPair) -> set[int]:
        """Pool positions of the question itself (same id or same text) and of its paragraph's other questions."""
        text = _same_text(pair.question)
        return {i for i, (p, p_text) in enumerate(zip(self.pool, self._pool_texts))
                if p_text == text or (pair.id and p.id == pair.id) or (pair.doc_id and p.doc_id == pair.doc_id)}

    def _gather(self, pairs: list[QAPair]) -> list[Context]:
        excluded = [self._excluded(pair) for pair in pairs]
        if self.selection == "random":
            picks = [self._random(pair, skip) for pair, skip in zip(pairs, excluded)]
        else:
            picks = self._similar(pairs, excluded)
        return [Context(demonstrations=tuple(demos)) for demos in picks]

    def _random(self, pair: QAPair, skip: set[int]) -> list[Demonstration]:
        rng = random.Random(f"{self.seed}|{pair.id}|{pair.question}")
        candidates = [i for i in range(len(self.pool)) if i not in skip]
        return [self._demonstration(i) for i in rng.sample(candidates, min(self.k, len(candidates)))]

    def _similar(self, pairs: list[QAPair], excluded: list[set[int]]) -> list[list[Demonstration]]:
        from workbench.indexing import embed_texts

        vectors = embed_texts([p.question for p in pairs], embedder=self.embedder)
        depth = min(len(self.pool), self.k + max(len(skip) for skip in excluded))
        scores, ids = self._store.search(vectors, depth)
        picks = []
        for row_scores, row_ids, skip in zip(scores, ids, excluded):
            chosen = [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0 and int(i) not in skip]
            picks.append([self._demonstration(i, s) for i, s in chosen[:self.k]])
        return picks

    def _demonstration(self, position: int, score: float | None = None) -> Demonstration:
        pair = self.pool[position]
        return Demonstration(pair.id, pair.question, pair.answers[0], score)
