"""Keyword search at scale: hybrid retrieval (bm25s + FAISS flat, reciprocal rank fusion) against dense
retrieval alone, at 10k and 100k chunks, and the same recall on SQuAD as before the move to bm25s.

Run: .venv/bin/python bench/keyword_search.py   (writes bench/results/keyword_search.md; ~10 min on 2 cores)

Latency: chunk texts are sampled word by word from the SQuAD articles' own word frequencies (so term
statistics look like real text), vectors are synthetic (embedding 100k chunks would take an hour here),
queries are real SQuAD questions. Dense = one FAISS flat search; hybrid = what `Index.search` does when
hybrid: both retrievers `HYBRID_CANDIDATES` deep, then the fusion. Embedding the query costs the same
in both and is reported apart. `rank_bm25` (the previous implementation) is timed beside when installed.
Both timed methods alternate query by query on one thread, so machine noise hits them alike.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from workbench.config import load_config
from workbench.corpus import load_squad
from workbench.evaluation.retrieval import evaluate_retrieval
from workbench.indexing import VectorStore, build_index, embed_texts
from workbench.indexing.hybrid import Bm25, reciprocal_rank_fusion, tokenize
from workbench.indexing.index import HYBRID_CANDIDATES

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "keyword_search.md"
SQUAD = ROOT.parents[1] / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
SIZES = (10_000, 100_000)
WORDS_PER_CHUNK = 130  # about an 800-character chunk
QUERIES = 200
RANK_BM25_QUERIES = 20  # the old implementation is slow enough that a few queries tell
DIM, K = 384, 5
# Recall of hybrid retrieval on the same SQuAD sample, chunk size 800, flat, as committed in
# bench/results/indexing.md with rank_bm25 (before this change).
BEFORE = {"recall@1": 0.672, "recall@5": 0.910, "recall@10": 0.943, "mrr": 0.775, "ndcg@10": 0.816}


def main() -> None:
    if not SQUAD.is_file():
        sys.exit(f"needs {SQUAD} (the shared data sets)")
    corpus = load_squad(SQUAD)
    questions = random.Random(0).sample(corpus.qa_pairs, 800)  # the sample of bench/indexing.py
    report = [f"# Keyword search at scale\n\nbm25s {_version('bm25s')} against FAISS flat alone; "
              f"{time.strftime('%Y-%m-%d')}, 2 CPU cores, one thread per query.\n"]
    report += recall(corpus, questions)
    report += latency(corpus, [qa.question for qa in questions[:QUERIES]])
    RESULTS.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


def recall(corpus, questions) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(overrides=[f"index.root={tmp}", "chunking.chunk_size=800"])
        index = build_index("squad", corpus.documents, config=config)
        dense = evaluate_retrieval(index, questions, (1, 5, 10), hybrid=False)
        hybrid = evaluate_retrieval(index, questions, (1, 5, 10), hybrid=True)
    keys = list(BEFORE)
    return ["## Recall on SQuAD (800 questions, chunk size 800, flat)\n",
            "| retrieval | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys),
            "| dense | " + " | ".join(f"{dense[k]:.3f}" for k in keys) + " |",
            "| hybrid, rank_bm25 (before; bench/results/indexing.md) | " + " | ".join(f"{BEFORE[k]:.3f}" for k in keys) + " |",
            "| hybrid, bm25s (now) | " + " | ".join(f"{hybrid[k]:.3f}" for k in keys) + " |", ""]


def latency(corpus, queries: list[str]) -> list[str]:
    import faiss

    faiss.omp_set_num_threads(1)
    embed_ms = np.array([_ms(lambda q=q: embed_texts([q], "minilm")) for q in queries[:50]])
    words = Counter(word for doc in corpus.documents for word in tokenize(doc.text))
    vocabulary, weights = list(words), np.array(list(words.values()), dtype=np.float64)
    rng = np.random.default_rng(0)
    lines = ["## Query latency, synthetic chunks\n",
             f"Embedding the query (both retrievals): p50 {np.median(embed_ms):.1f} ms. Per query, without it:\n",
             "| chunks | BM25 build s | dense p50 ms | hybrid p50 ms | hybrid ÷ dense (p50) | dense p95 ms | "
             "hybrid p95 ms | rank_bm25 hybrid p50 ms |", "|---|---|---|---|---|---|---|---|"]
    for n in SIZES:
        texts = [" ".join(rng.choice(vocabulary, WORDS_PER_CHUNK, p=weights / weights.sum())) for _ in range(n)]
        ids = np.arange(n, dtype=np.int64)
        vectors = _unit(rng.standard_normal((n, DIM)))
        store = VectorStore(DIM, "flat")
        store.add(ids, vectors)
        started = time.perf_counter()
        bm25 = Bm25(ids, texts)
        build_s = time.perf_counter() - started
        query_vectors = _unit(rng.standard_normal((len(queries), DIM)))
        dense_ms, hybrid_ms = [], []
        for query, vector in zip(queries, query_vectors):  # alternating: noise hits both alike
            dense_ms.append(_ms(lambda: store.search(vector[None], K)))
            hybrid_ms.append(_ms(lambda: _hybrid(store, bm25, query, vector)))
        old = _rank_bm25_ms(ids, texts, store, queries[:RANK_BM25_QUERIES], query_vectors)
        dense_ms, hybrid_ms = np.array(dense_ms), np.array(hybrid_ms)
        lines.append(f"| {n:,} | {build_s:.1f} | {np.median(dense_ms):.2f} | {np.median(hybrid_ms):.2f} | "
                     f"{np.median(hybrid_ms) / np.median(dense_ms):.2f} | {np.percentile(dense_ms, 95):.2f} | "
                     f"{np.percentile(hybrid_ms, 95):.2f} | {old} |")
        print(f"latency at {n:,} done", flush=True)
    return lines + [""]


def _hybrid(store: VectorStore, bm25, query: str, vector: np.ndarray) -> list:
    scores, found = store.search(vector[None], HYBRID_CANDIDATES)
    dense = [int(i) for i in found[0] if i >= 0]
    keyword = [chunk_id for chunk_id, _ in bm25.top(query, HYBRID_CANDIDATES)]
    return reciprocal_rank_fusion([dense, keyword])[:K]


def _rank_bm25_ms(ids, texts, store, queries, query_vectors) -> str:
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        return "not installed"

    okapi = BM25Okapi([tokenize(t) for t in texts])

    class Old:
        def top(self, query: str, n: int):
            scores = okapi.get_scores(tokenize(query))
            order = np.argsort(-scores, kind="stable")[:n]
            return [(int(ids[i]), float(scores[i])) for i in order if scores[i] > 0]

    old = Old()
    return f"{np.median([_ms(lambda q=q, v=v: _hybrid(store, old, q, v)) for q, v in zip(queries, query_vectors)]):.1f}"


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
