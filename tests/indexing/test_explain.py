"""`Index.explain`: hybrid search's hits with each retriever's score and rank (the search playground)."""

from __future__ import annotations

from collections import Counter

import pytest

from workbench.config import load_config
from workbench.indexing import build_index
from workbench.indexing.hybrid import tokenize


@pytest.fixture(scope="module")
def index(few_documents, tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    return build_index("small", few_documents, config=load_config(overrides=[f"index.root={root}"]))


@pytest.mark.parametrize("query, filters", [("Who ruled the duchy?", None), ("the history of the region", None),
                                            ("Norman conquest", {"paragraph": [0, 1, 2]})])
def test_explain_gives_the_hybrid_search_hits_in_its_order(index, query, filters):
    explained = index.explain(query, k=5, filters=filters)
    assert [e.hit for e in explained] == index.search(query, k=5, filters=filters, hybrid=True)
    assert all(e.hit.score == e.fused_score for e in explained)


def test_scores_and_ranks_of_each_retriever(index, few_documents):
    counts = Counter(token for doc in few_documents for token in set(tokenize(doc.text)))
    target = next(doc for doc in few_documents if any(counts[t] == 1 and len(t) >= 8 for t in tokenize(doc.text)))
    rare = next(t for t in tokenize(target.text) if counts[t] == 1 and len(t) >= 8)

    explained = index.explain(rare, k=8)
    first = next(e for e in explained if e.keyword_rank == 1)
    assert first.hit.doc_id == target.id and rare in first.hit.text.lower() and first.keyword_score > 0
    assert all(e.keyword_score is None and e.keyword_rank is None for e in explained if rare not in e.hit.text.lower())
    assert all(-1 - 1e-5 <= e.dense_score <= 1 + 1e-5 for e in explained)  # cosines: every chunk is a candidate
    for e in explained:
        ranks = [r for r in (e.dense_rank, e.keyword_rank) if r is not None]
        assert e.fused_score == pytest.approx(sum(1 / (60 + r) for r in ranks))
