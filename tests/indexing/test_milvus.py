"""index.store: milvus, against the real Milvus Lite engine (a database folder under tmp_path): the same
results as FAISS flat, deletes that wait for the version to be current, reopening, and strays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.processes import WB
from workbench.corpus import Document
from workbench.indexing import IndexBuildError, IndexSettings, MilvusStore, VectorStore, build_index, open_index

pytest.importorskip("pymilvus", reason="index.store: milvus needs pymilvus (pip install 'workbench[scale]')")
pytest.importorskip("milvus_lite", reason="the tests run Milvus Lite (pip install 'workbench[scale]')")


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_milvus_store_matches_flat_deletes_at_commit_and_reopens(tmp_path):
    vectors, ids = unit_vectors(300), np.arange(100, 400)
    folder = tmp_path / "idx"
    folder.mkdir()
    store = MilvusStore.create(16, IndexSettings(store="milvus"), folder)
    store.add(ids, vectors, doc_ids=[f"doc{i // 3}" for i in ids])
    flat = VectorStore(16, "flat")
    flat.add(ids, vectors)
    queries = unit_vectors(5, seed=1)
    (scores, found), (flat_scores, flat_found) = store.search(queries, 5), flat.search(queries, 5)
    assert found.tolist() == flat_found.tolist() and np.allclose(scores, flat_scores, atol=1e-5)
    assert np.allclose(store.vectors(ids[[7, 3]]), vectors[[7, 3]])
    assert store.search_subset(queries[:1], 3, ids[:2])[1].tolist() == flat.search_subset(queries[:1], 3, ids[:2])[1].tolist()

    assert store.remove(np.array([100, 101, 9999])) == 2 and store.ntotal == 298
    assert not np.isin(store.search(vectors[:2], 5)[1], [100, 101]).any()
    reopened = MilvusStore.load(b"", store.params, folder)  # a reader of the current version: still there
    assert reopened.ntotal == 300
    store.commit(ids[2:])  # the version without them is current: now Milvus deletes them
    reopened = MilvusStore.load(b"", store.params, folder)
    assert reopened.ntotal == 298 and sorted(reopened.ids().tolist()) == ids[2:].tolist()
    reopened.add(np.array([500]), vectors[:1], doc_ids=["new"])
    assert reopened.search(vectors[:1], 1)[1][0, 0] == 500
    assert (folder / "milvus.db").is_dir()  # Milvus Lite's database sits in the index's folder
    with pytest.raises(IndexBuildError, match="Milvus Lite cannot build IVF_PQ"):
        MilvusStore.create(16, IndexSettings(store="milvus", type="ivfpq"), folder)


def test_an_index_built_by_one_command_answers_the_next(tmp_path):
    """`wb index build` then, in another process, a search: Milvus Lite starts anew there, with the collection
    released until it is loaded. While that process holds the database, a third reads the index's text."""
    folder, root = tmp_path / "notes", tmp_path / "indexes"
    folder.mkdir()
    (folder / "zebras.md").write_text("# Zebras\n\nZebras have black and white stripes.\n")
    (folder / "owls.md").write_text("# Owls\n\nOwls hunt at night and turn their heads far around.\n")
    built = subprocess.run([*WB, "index", "build", "notes", str(folder), "--set", "index.store=milvus",
                            "--set", f"index.root={root}"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    held = open_index("notes", root)  # this process holds the Milvus Lite database from now on
    assert held.search("striped animals", 1, hybrid=False)[0].doc_id == "zebras.md"
    # another process (a second training process) still reads the index's text, which needs no vectors
    read = subprocess.run([sys.executable, "-c", "import sys; from workbench.config import load_config; "
                           "from workbench.indexing.passages import document_passages; "
                           "config = load_config(None, [f'index.root={sys.argv[1]}']); "
                           "print([p.text for p in document_passages(config, index='notes').passages])", str(root)],
                          capture_output=True, text=True)
    assert read.returncode == 0, read.stderr[-2000:]
    assert read.stdout.strip() == str([chunk.text for _, chunk in held.chunks()])


def test_index_on_milvus_searches_like_faiss_and_survives_strays(few_documents, config):
    faiss_index = build_index("plain", few_documents, config=config)
    config.index.store = "milvus"
    index = build_index("scaled", few_documents, config=config)
    assert index.info()["store"]["store"] == "milvus" and index.info()["store"]["collection"].startswith("wb_scaled_")
    queries = [doc.text[:120] for doc in few_documents[:4]]
    ids = lambda hits: [(h.doc_id, h.chunk_id) for h in hits]  # noqa: E731
    for query in queries:
        assert ids(index.search(query, 5, hybrid=False)) == ids(faiss_index.search(query, 5, hybrid=False))

    index.add([Document("zebra", "Zebras have black and white stripes.", {})])
    index.remove(few_documents[0].id)
    stray = index._next_chunk_id  # as if a writer had been killed after writing this vector
    index.store.add(np.array([stray]), np.ones((1, index.store.dim), np.float32) / np.sqrt(index.store.dim))
    reopened = open_index("scaled", config.index.root)  # the stray is tolerated, and never returned
    assert reopened.search("zebra stripes", 1, hybrid=False)[0].doc_id == "zebra"
    assert few_documents[0].id not in {h.doc_id for h in reopened.search(few_documents[0].text[:120], 20, hybrid=False)}
    reopened.remove(few_documents[1].id)  # the next write deletes the stray
    assert stray not in open_index("scaled", config.index.root).store.ids().tolist()

    config.index.type = "hnsw"  # built anew: a new collection, and the old one is dropped
    rebuilt = build_index("scaled", few_documents, config=config)
    collections = rebuilt.store._client.list_collections()
    assert rebuilt.store.collection in collections and index.store.collection not in collections
