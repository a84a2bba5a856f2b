"""RAG: the top-k chunks of an index, numbered [1], [2]... in the prompt; the answer may cite them."""

from __future__ import annotations

import time

from workbench.corpus import QAPair
from workbench.errors import WorkbenchError
from workbench.strategies.answer import Source
from workbench.strategies.base import Context, Strategy


class Rag(Strategy):
    name = "rag"
    retrieves = True

    @classmethod
    def from_factory(cls, factory, **common) -> Rag:
        return cls(**common, index=factory.index, k=factory.config.retrieval.k)

    def __init__(self, *args, index, k: int = 3, **kwargs):
        """`index`: an opened index (workbench.indexing.open_index)."""
        super().__init__(*args, **kwargs)
        if k < 1:
            raise WorkbenchError(f"rag needs at least one chunk, got k={k}")
        self.index, self.k = index, k

    def _gather(self, pairs: list[QAPair]) -> list[Context]:
        started = time.perf_counter()
        hit_lists = self.index.search_many([p.question for p in pairs], self.k)
        seconds = (time.perf_counter() - started) / len(pairs)
        return [
            Context(sources=tuple(Source(number, h.chunk_id, h.doc_id, float(h.score), h.text, h.start, h.end)
                                  for number, h in enumerate(hits, start=1)),
                    retrieval_seconds=seconds)
            for hits in hit_lists
        ]
