"""`index.executor`: local against ray (2 actors on a local 2-CPU Ray cluster) → bench/results/ray_index.md (+ .json).

The demo corpus is built from scratch three times in one run: locally, then on Ray twice (the first build starts
the cluster, the second finds it up; each build starts its own actors, which import sentence-transformers and
load the embedder). Each Ray build is split at its first batch back: before it, the fixed cost (cluster and
actors starting), after it, the embedding itself. The vectors of every build are compared with the local ones.

On one 2-core machine Ray can only add overhead: the local build already uses both cores (torch threads), and
the actors take them one each. The point of the executor is more machines, not this one.

Usage: .venv/bin/python bench/ray_index.py [--repeat 64]   (~3 min on 2 cores; check `uptime` first)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.config import load_config
from workbench.corpus import load_demo_corpus
from workbench.indexing import Index, build_index
from workbench.progress import ProgressUpdate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="copies of the demo corpus (more chunks to embed)")
    args = parser.parse_args()
    documents = [dataclasses.replace(doc, id=f"{copy}/{doc.id}") for copy in range(args.repeat)
                 for doc in load_demo_corpus().documents]
    with tempfile.TemporaryDirectory() as root:
        local, local_index = timed_build(documents, root, "local", "index.executor=local")
        runs = {"local": local}
        for name in ("ray, starting the cluster", "ray, cluster up"):
            runs[name], index = timed_build(documents, root, name.replace(", ", "-").replace(" ", "-"),
                                            "index.executor=ray", "index.ray_actors=2")
            ids = local_index.store.ids()
            runs[name]["max_abs_vector_difference"] = float(
                np.abs(index.store.vectors(ids) - local_index.store.vectors(ids)).max())
    import ray

    report = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1),
              "ray": ray.__version__, "demo_copies": args.repeat, "documents": len(documents), "runs": runs}
    (RESULTS / "ray_index.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "ray_index.md").write_text(markdown(report))
    print((RESULTS / "ray_index.md").read_text())


def timed_build(documents, root: str, name: str, *overrides: str) -> tuple[dict, Index]:
    """Build index `name` from scratch: seconds in all, until the first embedded batch came back, and after it."""
    config = load_config(overrides=[f"index.root={root}", *overrides])
    back: list[float] = []  # when each embedded batch came back

    def progress(update: ProgressUpdate) -> None:
        if update.stage == "embedding" and update.done > 0:
            back.append(time.perf_counter())

    started = time.perf_counter()
    index = build_index(name, documents, config=config, progress=progress)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "until_first_batch": round(back[0] - started, 1),
            "after_first_batch": round(seconds - (back[0] - started), 1),
            "chunks": index.last_update.chunks_embedded}, index


def markdown(report: dict) -> str:
    local = report["runs"]["local"]["seconds"]
    lines = [
        "# Index builds on Ray: local against 2 Ray actors, one 2-core machine\n",
        f"The demo corpus ×{report['demo_copies']} "
        f"({report['documents']} documents, {report['runs']['local']['chunks']} chunks of 800 characters, "
        f"minilm), built from scratch; {report['date']}, {report['cores']} cores (load average "
        f"{report['load_average']:.1f} at the end), Ray {report['ray']}. "
        "Run: `.venv/bin/python bench/ray_index.py`.\n",
        "| executor | build s | × local | until the first batch is back s | after it s | max abs vector difference |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in report["runs"].items():
        difference = f"{run['max_abs_vector_difference']:.1e}" if "max_abs_vector_difference" in run else "(the reference)"
        lines.append(f"| {name} | {run['seconds']} | {run['seconds'] / local:.2f} | {run['until_first_batch']} | "
                     f"{run['after_first_batch']} | {difference} |")
    lines += [
        "",
        "On two cores Ray only adds overhead: the local build already runs torch on both cores, and the two actors "
        "take one core each, so the embedding itself goes no faster, while every build pays for its actors "
        "starting (each imports sentence-transformers and loads the embedder) and the first for the cluster too. "
        "What the executor is for is more machines: the actors embed in parallel on every node of a cluster "
        "(`ray start`, docs/indexing.md), and only the chunk texts and their vectors travel.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
