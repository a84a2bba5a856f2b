"""Does hybrid retrieval (BM25 + dense, reciprocal rank fusion) make RAG answers better, not only
retrieval? RAG k=1 and k=3 with dense vs hybrid retrieval on the same 200 SQuAD questions, the same
model, prompts and index as bench/strategies.py. Writes bench/results/rag_hybrid.md.

    .venv/bin/python bench/rag_hybrid.py [--questions 200] [--chunk-size 400] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
from strategies import SQUAD, run, split_questions  # bench/strategies.py: same scoring, same question sample

from workbench.config import load_config
from workbench.corpus import QAPair, load_squad
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
from workbench.indexing import build_index
from workbench.models import GENERATOR, load_generator
from workbench.strategies import Answer, Rag

RESULTS = Path(__file__).resolve().parent / "results" / "rag_hybrid.md"


def gold_retrieved(answers: list[Answer], pairs: list[QAPair]) -> float:
    """Share of questions whose own paragraph is among the sources placed in the prompt."""
    return sum(any(s.doc_id == p.doc_id for s in a.sources) for a, p in zip(answers, pairs)) / len(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=400)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if not SQUAD.is_file():
        print(f"skipped: needs {SQUAD} (the shared data sets)", file=sys.stderr)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    corpus = load_squad(SQUAD)
    pairs, _ = split_questions(corpus.qa_pairs, args.questions)  # the same sample as bench/strategies.py

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as root:
        config = load_config(overrides=[f"index.root={root}", f"chunking.chunk_size={args.chunk_size}",
                                        "chunking.chunk_overlap=50"])
        index = build_index("squad", corpus.documents, config=config)
        engine = GenerationEngine(load_generator(GENERATOR),
                                  GenerationSettings.from_config(config.updated({
                                      "generation.max_new_tokens": args.max_new_tokens, "generation.batch_size": 8})))
        common = {"engine": engine, "templates": load_prompts(), "system_prompt": config.generation.system_prompt}
        results, gold = {}, {}
        for k in (1, 3):
            for hybrid in (False, True):
                # Rag searches with the index's own setting when not told otherwise.
                index.settings = dataclasses.replace(index.settings, hybrid=hybrid)
                label = f"rag k={k} {'hybrid' if hybrid else 'dense'}"
                gold[label] = gold_retrieved(run(label, Rag(**common, index=index, k=k), pairs, results), pairs)
        chunks = index.info()["chunks"]

    lines = [
        "# RAG with dense vs hybrid retrieval",
        "",
        f"`bench/rag_hybrid.py`, {time.strftime('%Y-%m-%d')}, {(time.perf_counter() - started) / 60:.1f} min on 2 CPU "
        f"cores. SmolLM2-135M-Instruct, the {len(pairs)} questions of bench/strategies.py, an index of all 12 "
        f"articles ({chunks} chunks of {args.chunk_size} characters), greedy, {args.max_new_tokens} new tokens.",
        "",
        "| retrieval | questions | gold paragraph in prompt | EM | token F1 | answer contained | retrieval ms |",
        "|---|---|---|---|---|---|---|",
        *[f"| {label} | {r['n']} | {gold[label]:.3f} | {r['em']:.3f} | {r['f1']:.3f} | {r['contained']:.3f} | "
          f"{r['retrieval_ms']:.1f} |" for label, r in results.items()],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
