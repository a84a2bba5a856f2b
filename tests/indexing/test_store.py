"""VectorStore: each FAISS kind adds, searches, deletes without shifting ids, and round-trips to bytes."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.indexing import IndexBuildError, VectorStore


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_add_search_remove_persist(kind):
    vectors, ids = unit_vectors(400), np.arange(1000, 1400)
    store = VectorStore(16, kind)
    store.add(ids, vectors)
    _, found = store.search(vectors[:5], 1)
    assert found[:, 0].tolist() == ids[:5].tolist()
    assert store.remove(ids[:2]) == 2 and store.ntotal == 398
    _, found = store.search(vectors[:5], 1)
    assert found[0, 0] != 1000 and found[2:, 0].tolist() == [1002, 1003, 1004]  # the others keep their ids
    copy = VectorStore.from_bytes(store.to_bytes(), store.params)
    assert copy.search(vectors[:5], 3)[1].tolist() == store.search(vectors[:5], 3)[1].tolist()
    copy.add(np.array([5000]), vectors[:1])
    assert copy.search(vectors[:1], 1)[1][0, 0] == 5000


def test_search_subset_is_exact_and_returns_k_when_k_exist():
    vectors, ids = unit_vectors(300), np.arange(300)
    store = VectorStore(16, "hnsw")
    store.add(ids, vectors)
    subset = np.array([7, 150, 299])
    scores, found = store.search_subset(vectors[:1], 5, subset)
    assert sorted(found[0, :3].tolist()) == [7, 150, 299] and found[0, 3:].tolist() == [-1, -1]
    assert np.allclose(scores[0, :3], np.sort(vectors[subset] @ vectors[0])[::-1], atol=1e-5)


def test_ivf_refuses_a_corpus_too_small_to_train():
    store = VectorStore(16, "ivf")
    with pytest.raises(IndexBuildError, match="needs at least 78 chunks to train.*has 50.*--type flat"):
        store.add(np.arange(50), unit_vectors(50))
    explicit = VectorStore(16, "ivf", ivf_nlist=10)
    with pytest.raises(IndexBuildError, match="10 lists needs at least 390 chunks.*smaller index.ivf_nlist"):
        explicit.add(np.arange(300), unit_vectors(300))
