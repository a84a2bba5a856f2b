"""Indexes at scale: flat, hnsw, ivf and ivfpq on 1M synthetic 384-dimensional vectors (build time, bytes
per chunk, peak memory, recall@10 against flat, query latency), the BM25 keyword index's size per million
chunks (in memory and memory-mapped), and the corpus size at which each stops fitting this machine.

Run: .venv/bin/python bench/scale.py   (writes bench/results/scale.md and scale.json; ~30 min on 2 cores,
3 GB of disk under the system's temporary folder). Needs ../shared/data/squad-v1.1-dev-articles-00-11.json
for the BM25 part (its word frequencies and questions).

Each index is built in its own process, so that its peak memory is its own: peak RSS (VmHWM) and the
peak of anonymous memory (RssAnon, sampled every 20 ms), which leaves out the pages of the memory-mapped
input vectors (the kernel drops those under pressure; they are not memory the index needs). Vectors are
unit-normalized points around n/20 gaussian centres (as in bench/indexing.py), queries are points near
stored ones; recall@10 is the overlap with flat's exact top 10. hnsw is built on 200k vectors (its build
is slow on 2 shared cores) and its figures extrapolated per chunk; the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from workbench.indexing import VectorStore
from workbench.indexing.hybrid import Bm25, tokenize

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "scale"
SQUAD = ROOT.parents[1] / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
DIM, K = 384, 10
N = 1_000_000
HNSW_N = 200_000
QUERIES, LATENCY_QUERIES = 1_000, 200
NLIST = 1024  # for ivf and ivfpq at 1M: about sqrt(n); the default 4 * sqrt(n) trains 4x longer
MACHINE_GIB = 24
RUNS = [("flat", N), ("flat", HNSW_N), ("hnsw", HNSW_N), ("ivf", N), ("ivfpq", N)]
BM25_SIZES = (100_000, 300_000)
WORDS_PER_CHUNK = 130  # about an 800-character chunk
TEXT_BYTES_PER_CHUNK = 2 * 800  # an Index holds each chunk's text and its document's (chunk_size 800)


def main() -> None:
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)", flush=True)
    results = {"date": time.strftime("%Y-%m-%d"), "load_average": load, "cores": os.cpu_count(),
               "vectors": N, "dim": DIM, "indexes": [], "bm25": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _make_vectors(folder)
        for kind, n in RUNS:
            result = _in_child(["vectors", kind, str(n), str(folder)])
            results["indexes"].append(result)
            print(json.dumps(result), flush=True)
        if SQUAD.is_file():
            for n in BM25_SIZES:
                result = _in_child(["bm25", str(n), str(folder)])
                results["bm25"].append(result)
                print(json.dumps(result), flush=True)
    results["load_average_after"] = os.getloadavg()
    RESULTS.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    RESULTS.with_suffix(".md").write_text(report(results), encoding="utf-8")
    print(f"wrote {RESULTS}.md and .json")


# --- the measurements, each in a child process --------------------------------------------------

def measure_index(kind: str, n: int, folder: Path) -> dict:
    import faiss

    vectors = np.load(folder / "vectors.npy", mmap_mode="r")[:n]
    queries = np.load(folder / "queries.npy")
    store = VectorStore(DIM, kind, ivf_nlist=NLIST if kind in ("ivf", "ivfpq") else 0)
    with PeakMemory() as peak:  # anonymous memory the build adds (the interpreter's own is left out)
        build_s = _seconds(lambda: store.add(np.arange(n, dtype=np.int64), vectors))
    _, found = store.search(queries, K)
    truth = folder / f"truth-{n}.npy"
    if kind == "flat":
        np.save(truth, found)
    faiss.omp_set_num_threads(1)  # one query at a time, as a user's search runs
    latency = np.array([_seconds(lambda q=q: store.search(q[None], K)) * 1000 for q in queries[:LATENCY_QUERIES]])
    index_bytes = len(store.to_bytes())
    return {"kind": kind, "chunks": n, "build_s": build_s, "index_bytes": index_bytes,
            "peak_rss_bytes": _vm_hwm(), "peak_anon_bytes": peak.bytes, "recall@10": _overlap(np.load(truth), found),
            "latency_p50_ms": float(np.median(latency)), "latency_p95_ms": float(np.percentile(latency, 95)),
            "params": store.params}


def measure_bm25(n: int, folder: Path) -> dict:
    from workbench.corpus import load_squad

    corpus = load_squad(SQUAD)
    words = Counter(word for doc in corpus.documents for word in tokenize(doc.text))
    vocabulary, weights = np.array(list(words)), np.array(list(words.values()), dtype=np.float64)
    drawn = np.random.default_rng(0).choice(len(vocabulary), (n, WORDS_PER_CHUNK), p=weights / weights.sum())
    texts = [" ".join(vocabulary[row]) for row in drawn]
    del drawn
    ids = np.arange(n, dtype=np.int64)
    before = _anon()
    started = time.perf_counter()
    built = Bm25(ids, texts)
    build_s = time.perf_counter() - started
    in_memory = _anon() - before
    del texts
    scores = built._bm25.scores
    matrix_bytes = sum(scores[part].nbytes for part in ("data", "indices", "indptr"))
    saved = folder / f"bm25-{n}"
    saved.mkdir()
    files = built.files()
    for name, data in files.items():
        (saved / name).write_bytes(data)
    del built, files, scores
    questions = [qa.question for qa in corpus.qa_pairs[:LATENCY_QUERIES]]
    result = {"chunks": n, "build_s": build_s, "matrix_bytes": matrix_bytes, "anon_bytes_built": in_memory,
              "file_bytes": sum(f.stat().st_size for f in saved.iterdir())}
    for mmap in (True, False):
        before = _anon()
        opened = Bm25.open(saved, ids, mmap=mmap)
        opened.top(questions[0], 50)  # vocabulary and first pages read
        latency = np.array([_seconds(lambda q=q, o=opened: o.top(q, 50)) * 1000 for q in questions])
        key = "mmap" if mmap else "loaded"
        result |= {f"{key}_anon_bytes": _anon() - before, f"{key}_p50_ms": float(np.median(latency))}
        result[f"{key}_top"] = [opened.top(q, 10) for q in questions[:20]]
        del opened
    result["same_results"] = result.pop("mmap_top") == result.pop("loaded_top")
    return result


class PeakMemory:
    """Samples the process's anonymous resident memory every 20 ms while in the `with` block; `bytes`:
    its peak above what it was on entering."""

    def __enter__(self) -> PeakMemory:
        self._baseline = _anon()
        self._peak, self._running = self._baseline, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self._peak = max(self._peak, _anon())
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.bytes = max(self._peak, _anon()) - self._baseline


# --- the report ---------------------------------------------------------------------------------

def report(results: dict) -> str:
    gib = MACHINE_GIB * 2**30
    load = results["load_average"]
    lines = [
        "# Indexes at scale\n",
        f"{results['date']}; {results['cores']} shared CPU cores, {MACHINE_GIB} GiB RAM; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) before, "
        f"{results['load_average_after'][0]:.1f} after: timings are from a busy machine. "
        f"{N:,} synthetic unit vectors of {DIM} dimensions (float32, clustered gaussian), {QUERIES:,} queries; "
        f"recall@10 against flat's exact top 10; latency one query at a time on one thread. ivf and ivfpq: "
        f"{NLIST} lists, nprobe 16, trained on 100,000 vectors drawn at random; ivfpq 48 bytes per vector "
        "(pq_m 48, 8 bits), filled in shards of 100,000 from the memory-mapped vectors. Written by bench/scale.py.\n",
        "| index | chunks built | build s | index bytes / chunk | index MB / 1M chunks | building: peak MB / 1M "
        "| process peak RSS GB | recall@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["indexes"]:
        per_million = 1e6 / r["chunks"]
        lines.append(f"| {r['kind']} | {r['chunks']:,} | {r['build_s']:.1f} | {r['index_bytes'] / r['chunks']:.0f} | "
                     f"{r['index_bytes'] * per_million / 1e6:,.0f} | {r['peak_anon_bytes'] * per_million / 1e6:,.0f} | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} | {r['recall@10']:.3f} | "
                     f"{r['latency_p50_ms']:.2f} | {r['latency_p95_ms']:.2f} |")
    hnsw = next(r for r in results["indexes"] if r["kind"] == "hnsw")
    lines += ["", f"hnsw was built on {hnsw['chunks']:,} vectors, not {N:,}: its per-million figures are "
              f"extrapolated linearly from them (its build time grows a little faster than linearly: about "
              f"{hnsw['build_s'] * N / hnsw['chunks'] / 60:.0f} min or more at 1M on this machine). Its recall is against flat "
              f"on the same {hnsw['chunks']:,}.\n",
              "Building: peak MB / 1M is the anonymous memory the build added at its peak (the interpreter's own "
              "left out), per million chunks; process peak RSS (VmHWM) is the whole process's, including the pages "
              "of the memory-mapped input vectors it read, which the kernel can drop.\n"]
    bm25 = results["bm25"]
    if bm25:
        lines += ["## Keyword index (BM25, bm25s)\n",
                  f"Synthetic chunks of {WORDS_PER_CHUNK} words drawn from the SQuAD articles' word frequencies; "
                  "queries: SQuAD questions, 50 candidates each (as hybrid search asks).\n",
                  "| chunks | build s | matrix MB / 1M chunks | files MB / 1M | in memory: anon MB "
                  "after opening | p50 ms | memory-mapped: anon MB after opening | p50 ms | same results |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in bm25:
            lines.append(f"| {r['chunks']:,} | {r['build_s']:.1f} | {r['matrix_bytes'] / r['chunks']:,.0f} | "
                         f"{r['file_bytes'] / r['chunks']:,.0f} | "
                         f"{r['loaded_anon_bytes'] / 1e6:,.0f} | {r['loaded_p50_ms']:.2f} | "
                         f"{r['mmap_anon_bytes'] / 1e6:,.0f} | {r['mmap_p50_ms']:.2f} | {r['same_results']} |")
        lines.append("")
    lines += fits(results, gib)
    return "\n".join(lines) + "\n"


def fits(results: dict, gib: int) -> list[str]:
    """The corpus size at which each index stops fitting in memory, from its bytes per chunk."""
    largest = {}
    for r in results["indexes"]:
        if r["kind"] not in largest or r["chunks"] > largest[r["kind"]]["chunks"]:
            largest[r["kind"]] = r
    bm25 = max(results["bm25"], key=lambda r: r["chunks"], default=None)
    bm25_per_chunk = bm25["matrix_bytes"] / bm25["chunks"] if bm25 else 0.0
    lines = [f"## Where each stops fitting {MACHINE_GIB} GiB\n",
             f"Chunks that fit in {MACHINE_GIB} GiB: the index alone (its bytes per chunk, as searched), the same "
             "while building (peak anonymous memory per chunk, which counts the float vectors being added), and "
             f"the index with what an `Index` also holds in memory today: each chunk's and its document's text "
             f"(about {TEXT_BYTES_PER_CHUNK:,} bytes at chunk size 800), with the BM25 matrix memory-mapped (the "
             f"default for a saved hybrid index) or in memory ({bm25_per_chunk:.0f} bytes per chunk, as before it "
             "was saved). ivfpq's build peak is mostly fixed (its training sample and one shard of float vectors, "
             "100,000 each, about 0.3 GB), so its 'while building' figure is a floor, not its limit.\n",
             "| index | index only | while building | index + texts (BM25 mapped) | index + texts + BM25 in memory |",
             "|---|---|---|---|---|"]
    for kind, r in largest.items():
        per_chunk, building = r["index_bytes"] / r["chunks"], r["peak_anon_bytes"] / r["chunks"]
        lines.append(f"| {kind} | {_count(gib / per_chunk)} | {_count(gib / building)} | "
                     f"{_count(gib / (per_chunk + TEXT_BYTES_PER_CHUNK))} | "
                     f"{_count(gib / (per_chunk + TEXT_BYTES_PER_CHUNK + bm25_per_chunk))} |")
    return lines + [""]


# --- helpers ------------------------------------------------------------------------------------

def _make_vectors(folder: Path) -> None:
    """N unit vectors around N/20 centres, written block by block (never all in memory), and queries: stored
    vectors before normalization plus the same noise again, taken among the first HNSW_N (every run holds them)."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((N // 20, DIM)).astype(np.float32)
    targets = np.sort(rng.choice(HNSW_N, QUERIES, replace=False))
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(N, DIM))
    queries = []
    for start in range(0, N, 100_000):
        block = centres[rng.integers(0, len(centres), min(100_000, N - start))]
        block += 0.6 * rng.standard_normal(block.shape).astype(np.float32)
        vectors[start:start + len(block)] = _unit(block)
        chosen = targets[(targets >= start) & (targets < start + len(block))] - start
        queries.append(block[chosen] + 0.6 * rng.standard_normal((len(chosen), DIM)).astype(np.float32))
    vectors.flush()
    np.save(folder / "queries.npy", _unit(np.concatenate(queries)))
    del vectors


def _in_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT.parent)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _anon() -> int:
    return _status("RssAnon")


def _vm_hwm() -> int:
    return _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _overlap(exact: np.ndarray, found: np.ndarray) -> float:
    """Mean fraction of the exact top 10 that the search also returned."""
    return float(np.mean([len(set(e) & set(f)) / len(e) for e, f in zip(exact, found)]))


def _count(chunks: float) -> str:
    return f"{chunks / 1e6:,.0f}M" if chunks >= 1e7 else f"{chunks / 1e6:,.1f}M"


def _seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("part", nargs="?", choices=["vectors", "bm25"])
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    if options.part == "vectors":
        kind, n, folder = options.args
        print(json.dumps(measure_index(kind, int(n), Path(folder))))
    elif options.part == "bm25":
        n, folder = options.args
        print(json.dumps(measure_bm25(int(n), Path(folder))))
    else:
        main()
