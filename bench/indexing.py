"""Indexing benchmark: retrieval quality on SQuAD, build throughput, re-build cost, query latency and
approximate-index recall.

Run: .venv/bin/python bench/indexing.py   (writes bench/results/indexing.md; about 10 min on 2 cores)
Needs ../shared/data/squad-v1.1-dev-articles-00-11.json and langchain-community (bench-only, for the
LangChain FAISS.from_texts baseline). Speeds are compared as ratios measured in the same run, because
the machine is shared and noisy; each timed method runs in alternation and the best of the rounds counts.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.config import load_config
from workbench.corpus import load_squad
from workbench.evaluation.retrieval import evaluate_retrieval
from workbench.indexing import VectorStore, build_index, chunk_documents, embed_texts
from workbench.models import load_embedder

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "indexing.md"
SQUAD = ROOT.parents[1] / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
QUESTIONS = 800             # a fixed sample of the 3468 questions keeps the quality matrix to minutes
CHUNK_SIZES = (400, 800, 1200)
THROUGHPUT_PARAGRAPHS = 200  # a third of the corpus, timed ROUNDS times per method
ROUNDS = 3
LATENCY_SIZES = (1_000, 10_000, 100_000)
LATENCY_QUERIES = 200
EF_SEARCH = (16, 32, 64, 128)
NPROBE = (4, 8, 16, 32)
DIM = 384


def main() -> None:
    if not SQUAD.is_file():
        sys.exit(f"needs {SQUAD} (the shared data sets)")
    corpus = load_squad(SQUAD)
    questions = random.Random(0).sample(corpus.qa_pairs, QUESTIONS)
    load_embedder("minilm").encode(["warm-up"])
    report = [f"# Indexing benchmark\n\nSQuAD v1.1 dev articles 00-11: {len(corpus.documents)} paragraphs, "
              f"{QUESTIONS} of {len(corpus.qa_pairs)} questions (seed 0); embedder minilm; "
              f"{time.strftime('%Y-%m-%d')}.\n"]
    with tempfile.TemporaryDirectory() as tmp:
        report += throughput(corpus.documents[:THROUGHPUT_PARAGRAPHS], Path(tmp) / "throughput")
        report += quality(corpus.documents, questions, Path(tmp) / "quality")
    report += ann_recall_and_latency([qa.question for qa in questions[:50]])
    RESULTS.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


def config(root: Path, **chunking):
    overrides = [f"index.root={root}"] + [f"chunking.{k}={v}" for k, v in chunking.items()]
    return load_config(overrides=overrides)


def throughput(documents, root: Path) -> list[str]:
    """Fresh build vs plain SentenceTransformer.encode vs LangChain FAISS.from_texts, same chunk texts."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    model = load_embedder("minilm")

    class MiniLM(Embeddings):  # what HuggingFaceEmbeddings does, on the already loaded model
        def embed_documents(self, texts):
            return model.encode(texts, batch_size=64, normalize_embeddings=True).tolist()

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    texts = [c.text for c in chunk_documents(documents)]
    methods = {
        "encode": lambda round_: model.encode(texts, batch_size=64, normalize_embeddings=True),
        "build": lambda round_: build_index(f"t{round_}", documents, config=config(root)),
        "langchain": lambda round_: FAISS.from_texts(texts, MiniLM()),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    order = list(methods)
    for round_ in range(ROUNDS):  # rotate the order so no method always runs first (or last)
        for name in order[round_ % 3:] + order[:round_ % 3]:
            times[name].append(_timed(lambda: methods[name](round_)))
    rebuild = min(_timed(lambda: build_index("t0", documents, config=config(root))) for _ in range(3))
    best = {name: min(values) for name, values in times.items()}
    rate = {name: len(texts) / seconds for name, seconds in best.items()}
    return [
        f"## Build throughput ({len(documents)} paragraphs, {len(texts)} chunks, best of {ROUNDS} rounds)\n",
        "| method | seconds | chunks/s | build ÷ method (throughput ratio) | target |",
        "|---|---|---|---|---|",
        f"| `build_index` (chunk, embed, FAISS, write) | {best['build']:.1f} | {rate['build']:.1f} | 1.00 | |",
        f"| `SentenceTransformer.encode` alone | {best['encode']:.1f} | {rate['encode']:.1f} | "
        f"{rate['build'] / rate['encode']:.2f} | ≥ 0.9 |",
        f"| LangChain `FAISS.from_texts` | {best['langchain']:.1f} | {rate['langchain']:.1f} | "
        f"{rate['build'] / rate['langchain']:.2f} | ≥ 1.0 |",
        f"| re-build, corpus unchanged | {rebuild:.3f} | | fresh ÷ unchanged = {best['build'] / rebuild:.0f}× | ≥ 20× |",
        "", "All rounds (s): " + "; ".join(f"{name} {', '.join(f'{t:.1f}' for t in values)}"
                                       for name, values in times.items()),
        "",
    ]


def quality(documents, questions, root: Path) -> list[str]:
    """Recall@1/5/10, MRR, nDCG@10 per chunk size, FAISS type and dense vs hybrid, on the same vectors."""
    rows, ann_rows = [], []
    for size in CHUNK_SIZES:
        started = time.perf_counter()
        index = build_index(f"squad-{size}", documents, config=config(root, chunk_size=size))
        build_s = time.perf_counter() - started
        flat = index.store
        ids = flat.ids()
        query_vectors = embed_texts([qa.question for qa in questions])
        _, exact = flat.search(query_vectors, 10)
        for kind in ("flat", "hnsw", "ivf"):
            index.store = flat if kind == "flat" else _copy(flat, ids, kind)
            for hybrid in (False, True) if kind == "flat" else (False,):
                scores = evaluate_retrieval(index, questions, (1, 5, 10), hybrid=hybrid)
                rows.append((size, len(ids), kind, "hybrid" if hybrid else "dense", scores))
            if kind != "flat":
                _, found = index.store.search(query_vectors, 10)
                ann_rows.append((size, kind, _overlap(exact, found)))
        print(f"chunk size {size}: {len(ids)} chunks, built in {build_s:.0f} s", flush=True)
    lines = ["## Retrieval quality (paragraph-level gold from the answer spans)\n",
             "| chunk size (chars) | chunks | FAISS | retrieval | recall@1 | recall@5 | recall@10 | MRR | nDCG@10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, n, kind, mode, s in rows:
        lines.append(f"| {size} | {n} | {kind} | {mode} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | "
                     f"{s['recall@10']:.3f} | {s['mrr']:.3f} | {s['ndcg@10']:.3f} |")
    lines += ["", "Recall@10 of the approximate indexes against flat (same SQuAD query vectors, default "
              "hnsw_ef_search / ivf_nprobe):\n", "| chunk size | FAISS | recall@10 vs flat |", "|---|---|---|"]
    lines += [f"| {size} | {kind} | {recall:.3f} |" for size, kind, recall in ann_rows]
    return lines + [""]


def ann_recall_and_latency(queries: list[str]) -> list[str]:
    """Search latency at 1k/10k/100k synthetic clustered vectors (random vectors stand in for embedded
    chunks), query embedding latency measured on real questions, and the ef_search / nprobe sweep."""
    embed_ms = np.array([_timed(lambda q=q: embed_texts([q])) * 1000 for q in queries])
    lines = ["## Query latency (one query at a time)\n",
             f"Embedding one question: p50 {np.percentile(embed_ms, 50):.1f} ms, p95 {np.percentile(embed_ms, 95):.1f} ms "
             f"({len(queries)} questions). Search on synthetic clustered vectors; total = embedding + search, "
             "paired sample by sample.\n",
             "| chunks | FAISS | build s | search p50 ms | search p95 ms | total p50 ms | total p95 ms | recall@10 vs flat |",
             "|---|---|---|---|---|---|---|---|"]
    sweep = []
    rng = np.random.default_rng(0)
    for n in LATENCY_SIZES:
        vectors, queries_v = _synthetic(rng, n)
        ids = np.arange(n, dtype=np.int64)
        stores, exact = {}, None
        for kind in ("flat", "hnsw", "ivf"):
            store = VectorStore(DIM, kind)
            build_s = _timed(lambda: store.add(ids, vectors))
            search_ms = _query_ms(store, queries_v)
            _, found = store.search(queries_v, 10)
            exact = found if kind == "flat" else exact
            total = search_ms + rng.choice(embed_ms, size=len(search_ms))
            lines.append(f"| {n:,} | {kind} | {build_s:.1f} | {np.percentile(search_ms, 50):.2f} | "
                         f"{np.percentile(search_ms, 95):.2f} | {np.percentile(total, 50):.1f} | "
                         f"{np.percentile(total, 95):.1f} | {_overlap(exact, found):.3f} |")
            stores[kind] = store
        if n == 10_000:
            sweep = _sweep(stores, queries_v, exact)
        print(f"latency at {n} done", flush=True)
    return lines + ["", "## Search-parameter sweep (10,000 synthetic vectors)\n",
                    "| FAISS | parameter | recall@10 vs flat | search p50 ms |", "|---|---|---|---|"] + sweep + [""]


def _sweep(stores: dict, queries_v: np.ndarray, exact: np.ndarray) -> list[str]:
    rows = []
    for kind, attribute, values in (("hnsw", "hnsw_ef_search", EF_SEARCH), ("ivf", "ivf_nprobe", NPROBE)):
        store = stores[kind]
        default = getattr(store, attribute)
        for value in values:
            setattr(store, attribute, value)
            _, found = store.search(queries_v, 10)
            ms = np.percentile(_query_ms(store, queries_v), 50)
            rows.append(f"| {kind} | {attribute}={value} | {_overlap(exact, found):.3f} | {ms:.2f} |")
        setattr(store, attribute, default)
    return rows


def _query_ms(store: VectorStore, queries_v: np.ndarray) -> np.ndarray:
    """Milliseconds per single-query search, on one thread: for one query, OpenMP threads only add
    scheduling delays on a busy machine."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return np.array([_timed(lambda q=q: store.search(q[None], 10)) * 1000 for q in queries_v])
    finally:
        faiss.omp_set_num_threads(threads)


def _synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around n/20 random centres, and queries near randomly chosen stored vectors."""
    centres = rng.standard_normal((max(1, n // 20), DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    queries = vectors[rng.integers(0, n, LATENCY_QUERIES)] + 0.6 * rng.standard_normal((LATENCY_QUERIES, DIM)).astype(np.float32)
    return _normalized(vectors), _normalized(queries)


def _normalized(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _copy(flat: VectorStore, ids: np.ndarray, kind: str) -> VectorStore:
    store = VectorStore(flat.dim, kind)
    store.add(ids, flat.vectors(ids))
    return store


def _overlap(exact: np.ndarray, found: np.ndarray) -> float:
    """Mean fraction of the exact top-10 that the approximate search also returned."""
    return float(np.mean([len(set(e[e >= 0]) & set(f)) / max(1, (e >= 0).sum()) for e, f in zip(exact, found)]))


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
