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


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 300 centres: each has near neighbours, so recall is meaningful."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((300, dim)).astype(np.float32)
    x = centres[rng.integers(0, 300, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ivfpq(**options) -> VectorStore:
    # 8 lists, 8 codes of 6 bits: trains on 2,496 vectors, encodes in shards of 700
    return VectorStore(32, "ivfpq", **{"ivf_nlist": 8, "ivf_nprobe": 8, "pq_m": 8, "pq_nbits": 6, "shard_size": 700,
                                       **options})


@pytest.fixture(scope="module")
def filled_ivfpq():
    vectors, ids = clustered(3100), np.arange(10_000, 13_000)  # the last 100: queries
    store = ivfpq()
    store.add(ids, vectors[:3000])
    return store, vectors, ids


def test_ivfpq_finds_what_flat_finds(filled_ivfpq):
    store, vectors, ids = filled_ivfpq
    flat = VectorStore(32, "flat")
    flat.add(ids, vectors[:3000])
    queries = vectors[3000:]
    exact, found = flat.search(queries, 10)[1], store.search(queries, 10)[1]
    recall = np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, found)])
    assert recall > 0.75  # 0.85 measured: 6 bytes of codes per vector instead of 128
    assert store.ntotal == 3000 and sorted(store.ids().tolist()) == ids.tolist()  # every shard merged
    assert store.params["trained_on"] == 3000 and store.to_bytes().__len__() < flat.to_bytes().__len__() / 3


def test_ivfpq_deletes_in_place_and_round_trips(filled_ivfpq):
    _, vectors, ids = filled_ivfpq
    store = VectorStore.from_bytes(filled_ivfpq[0].to_bytes(), filled_ivfpq[0].params)  # a copy, the fixture is shared
    before = store.search(vectors[5:10], 3)[1]
    assert store.remove(np.array([ids[0], ids[1], 99])) == 2 and store.ntotal == 2998
    assert not np.isin(store.search(vectors[:2], 10)[1], ids[:2]).any()
    assert store.search(vectors[5:10], 3)[1].tolist() == before.tolist()  # the others keep their ids and codes
    copy = VectorStore.from_bytes(store.to_bytes(), store.params)
    assert copy.search(vectors[5:10], 3)[1].tolist() == before.tolist() and copy.params == store.params
    copy.add(np.array([50_000]), vectors[:1])
    assert 50_000 in copy.search(vectors[:1], 10)[1][0]  # codes are approximate: near the top, not surely first
    scores, found = copy.search_subset(vectors[:1], 5, ids[2:5])  # exact over the decoded vectors
    assert sorted(found[0, :3].tolist()) == ids[2:5].tolist() and found[0, 3:].tolist() == [-1, -1]
    assert np.allclose(scores[0, :3], np.sort(copy.vectors(found[0, :3]) @ vectors[0])[::-1], atol=1e-5)


def test_ivfpq_trains_on_a_seeded_sample(tmp_path):
    vectors, ids = clustered(1000), np.arange(1000)
    on_disk = np.lib.format.open_memmap(tmp_path / "vectors.npy", mode="w+", dtype=np.float32, shape=vectors.shape)
    on_disk[:] = vectors
    builds = [ivfpq(pq_nbits=4, train_sample=700, train_seed=seed) for seed in (0, 0, 1)]  # 16 codes: 624 suffice
    builds[0].add(ids, vectors)
    builds[1].add(ids, np.load(tmp_path / "vectors.npy", mmap_mode="r"))  # read a shard at a time
    builds[2].add(ids, vectors)
    assert builds[0].to_bytes() == builds[1].to_bytes() and builds[0].params["trained_on"] == 700
    assert builds[0].to_bytes() != builds[2].to_bytes()  # another seed, another sample


def test_ivfpq_shards_filled_elsewhere_merge(filled_ivfpq):
    store = VectorStore.from_bytes(filled_ivfpq[0].to_bytes(), filled_ivfpq[0].params)
    extra = clustered(50, seed=2)  # around other centres: far from the rest
    shard = store.empty_shard()
    shard.add(np.arange(20_000, 20_050), extra)
    sent = VectorStore.from_bytes(shard.to_bytes(), shard.params)  # as from another process
    store.merge(sent)
    assert store.ntotal == 3050 and store.search(extra[:3], 1)[1][:, 0].tolist() == [20_000, 20_001, 20_002]


def test_ivfpq_refuses_what_it_cannot_train():
    with pytest.raises(IndexBuildError, match=r"ivfpq index with 8 lists and 64 codes of 6 bits needs at least 2496 "
                                              r"chunks.*has 1000.*smaller index.pq_nbits"):
        ivfpq().add(np.arange(1000), clustered(1000))
    with pytest.raises(IndexBuildError, match="pq_m.*5 does not divide the dimension 32"):
        VectorStore(32, "ivfpq", pq_m=5)
