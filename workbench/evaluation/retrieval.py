"""Retrieval quality of an index on QA pairs whose gold paragraph (`context`) is known.

A retrieved chunk is relevant when its document contains the gold paragraph, or when the chunk lies
inside the gold paragraph. Both tests compare text, so the scores do not depend on chunk ids, chunk
sizes or how documents were named: any index of the same text can be compared with any other.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.corpus import QAPair
from workbench.evaluation.metrics import mean, ndcg_at_k, recall_at_k, reciprocal_rank
from workbench.indexing.errors import IndexingError
from workbench.indexing.index import Index, SearchHit

NDCG_K = 10
_GOLD = "gold"  # every relevant hit gets this label: a gold paragraph counts once, however many chunks


def evaluate_retrieval(index: Index, qa_pairs: Sequence[QAPair], ks: Sequence[int] = (1, 5, 10),
                       hybrid: bool | None = None) -> dict:
    """recall@k for each k, MRR and nDCG@10 over the QA pairs with a context (others are counted apart)."""
    usable = [qa for qa in qa_pairs if qa.context and qa.context.strip()]
    if not usable:
        raise IndexingError("none of the questions has a context (gold paragraph) to judge retrieval by")
    depth = max(*ks, NDCG_K)
    results = index.search_many([qa.question for qa in usable], k=depth, hybrid=hybrid)
    labels = [[_label(hit, qa.context, index) for hit in hits] for qa, hits in zip(usable, results)]
    relevant = {_GOLD}
    scores = {f"recall@{k}": mean([recall_at_k(ranked, relevant, k) for ranked in labels]) for k in ks}
    scores["mrr"] = mean([reciprocal_rank(ranked, relevant) for ranked in labels])
    scores[f"ndcg@{NDCG_K}"] = mean([ndcg_at_k(ranked, relevant, NDCG_K) for ranked in labels])
    return {"questions": len(usable), "without_context": len(qa_pairs) - len(usable), **scores}


def _label(hit: SearchHit, context: str, index: Index) -> str:
    gold = _squash(context)
    if gold in _squash(index.document_text(hit.doc_id)) or _squash(hit.text) in gold:
        return _GOLD
    return f"{hit.doc_id}:{hit.start}"


def _squash(text: str) -> str:
    """Whitespace-insensitive comparison: loaders and splitters may re-flow whitespace."""
    return " ".join(text.split())
