"""Index: build, reopen, search, filters, hybrid, incremental updates, and the errors users can hit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from workbench.corpus import Document
from workbench.evaluation.retrieval import evaluate_retrieval
from workbench.indexing import (
    Bm25,
    EmbedderMismatch,
    IndexCorrupt,
    IndexingError,
    IndexNotFound,
    InvalidIndexName,
    build_index,
    list_indexes,
    open_index,
)


@pytest.fixture
def index(few_documents, config):
    return build_index("small", few_documents, config=config)


def test_build_open_and_search(index, few_documents, config):
    reopened = open_index("small", config.index.root)
    assert reopened.info()["documents"] == len(few_documents) and reopened.embedder_name == "minilm"
    target = few_documents[3]
    hits = reopened.search(target.text[:200], k=3)
    assert hits[0].doc_id == target.id
    assert target.text[hits[0].start:hits[0].end] == hits[0].text
    assert hits[0].metadata["title"] == target.metadata["title"] and hits[0].score > hits[1].score
    assert [i["name"] for i in list_indexes(config.index.root)] == ["small"]


def test_rebuilding_an_unchanged_corpus_embeds_nothing(index, few_documents, config):
    again = build_index("small", few_documents, config=config)
    assert again.last_update.chunks_embedded == 0 and again.last_update.skipped == len(few_documents)
    assert again.version == index.version  # nothing written either


def test_rebuild_with_fewer_documents_removes_the_others(index, few_documents, config):
    smaller = build_index("small", few_documents[:4], config=config)
    assert (smaller.last_update.removed, smaller.last_update.chunks_embedded) == (len(few_documents) - 4, 0)
    assert set(open_index("small", config.index.root).document_ids()) == {d.id for d in few_documents[:4]}


def test_add_replace_skip_remove(index, few_documents, config):
    changed = dataclasses.replace(few_documents[0], text="Zebras have black and white stripes.")
    new = Document("new/zebra-food", "Zebras mostly eat grasses.", {"title": "Zebra"})
    summary = index.add([changed, new, few_documents[1]])
    assert (summary.added, summary.replaced, summary.skipped) == (1, 1, 1)
    reopened = open_index("small", config.index.root)
    hits = reopened.search("zebra stripes", k=2)
    assert hits[0].doc_id == few_documents[0].id and hits[0].text == changed.text
    summary = reopened.remove(few_documents[0].id)
    assert summary.removed == 1
    reopened = open_index("small", config.index.root)
    assert few_documents[0].id not in reopened.document_ids()
    assert all(h.doc_id != few_documents[0].id for h in reopened.search("zebra stripes", k=20))
    with pytest.raises(IndexingError, match="has no document 'nope'"):
        reopened.remove("nope")


def test_filtered_search_returns_k_hits_when_k_match(index, few_documents):
    title = few_documents[-1].metadata["title"]
    matching = [d for d in few_documents if d.metadata["title"] == title]
    hits = index.search("the history of the region", k=len(matching), filters={"title": title})
    assert len(hits) == len(matching) and {h.metadata["title"] for h in hits} == {title}
    assert [h.doc_id for h in index.search("x", k=3, filters={"doc_id": few_documents[0].id})] == [few_documents[0].id]
    assert index.search("x", k=3, filters={"paragraph": "2", "title": title})[0].metadata["paragraph"] == 2
    assert index.search("x", k=3, filters={"title": "no such title"}) == []


def test_hybrid_search_fuses_keyword_and_dense_rankings(index, few_documents):
    target = few_documents[5]
    rare_words = " ".join(sorted(set(target.text.split()), key=len)[-3:])
    hits = index.search(rare_words, k=3, hybrid=True)
    assert hits[0].doc_id == target.id
    assert hits[0].score <= 2 / 61  # a reciprocal-rank-fusion score, not a cosine


def test_adding_with_another_embedder_is_refused(index, few_documents):
    with pytest.raises(EmbedderMismatch, match="built with embedder 'minilm', not 'other'"):
        index.add(few_documents[:1], embedder="other")


def test_missing_index_and_bad_names(config):
    with pytest.raises(IndexNotFound, match="no index named 'absent'.*wb index build absent"):
        open_index("absent", config.index.root)
    for name in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(InvalidIndexName):
            open_index(name, config.index.root)


def test_truncated_or_altered_files_are_reported(index, config):
    vectors = index.path / index.version / "vectors.faiss"
    data = vectors.read_bytes()
    vectors.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match=r"vectors.faiss: truncated or altered: \d+ bytes, expected"):
        open_index("small", config.index.root)
    chunks = index.path / index.version / "chunks.jsonl"
    vectors.write_bytes(data)
    chunks.write_bytes(chunks.read_bytes().replace(b"a", b"b", 1))
    with pytest.raises(IndexCorrupt, match="chunks.jsonl: checksum mismatch"):
        open_index("small", config.index.root)
    assert list_indexes(config.index.root)[0]["name"] == "small"


def test_evaluate_retrieval_judges_by_text(index, demo_corpus, few_documents):
    ids = {d.id for d in few_documents}
    qa_pairs = [qa for qa in demo_corpus.qa_pairs if qa.doc_id in ids][:20]
    scores = evaluate_retrieval(index, qa_pairs, (1, 5))
    assert scores["questions"] == 20 and scores["recall@5"] >= 0.8
    assert scores["recall@1"] <= scores["recall@5"] and 0 < scores["mrr"] <= 1 and 0 < scores["ndcg@10"] <= 1
    foreign = [dataclasses.replace(qa, context="A paragraph that is in no document.") for qa in qa_pairs[:5]]
    assert evaluate_retrieval(index, foreign, (10,))["recall@10"] == 0.0


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_approximate_index_types_build_update_and_reopen(kind, config):
    config.index.type, config.index.pq_nbits = kind, 1
    # 90 one-line documents: enough for ivf to train 2 lists (39 chunks each) and for ivfpq its 2 codes
    # of 1 bit, quick to embed.
    documents = [Document(f"d{i}", f"Note {i}: the {animal} number {i} sleeps.", {})
                 for i, animal in enumerate(["cat", "dog", "owl", "fox", "eel", "yak"] * 15)]
    index = build_index(f"small-{kind}", documents, config=config)
    assert index.info()["store"]["kind"] == kind
    index.remove("d0")
    reopened = open_index(f"small-{kind}", config.index.root)
    assert reopened.search(documents[7].text, k=1)[0].doc_id == "d7"
    assert reopened.info()["documents"] == 89 and "d0" not in reopened.document_ids()


def test_keyword_index_is_saved_and_memory_mapped(index, few_documents, config):
    reopened = open_index("small", config.index.root)
    keyword = reopened._keyword_index()
    assert keyword.memory_mapped  # opened from the version's files, not rebuilt
    ids, texts = zip(*[(chunk_id, chunk.text) for chunk_id, chunk in reopened.chunks()])
    built = Bm25(np.array(ids), list(texts))
    assert not built.memory_mapped
    for doc in few_documents:
        query = " ".join(doc.text.split()[5:12])
        assert keyword.top(query, 10) == built.top(query, 10) and keyword.top(query, 10)
        assert keyword.top(query, 5, allowed=np.array(ids[:4])) == built.top(query, 5, allowed=np.array(ids[:4]))
    data = next((index.path / index.version).glob("bm25.data.npy"))
    data.write_bytes(data.read_bytes()[:-8] + bytes(8))
    with pytest.raises(IndexCorrupt, match="bm25.data.npy: checksum mismatch"):
        open_index("small", config.index.root)
