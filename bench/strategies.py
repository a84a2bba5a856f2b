"""Benchmark of the answering strategies with the embedded SmolLM2-135M-Instruct on the SQuAD v1.1
dev articles (../shared/data): EM, token F1 and answer-contained for zero-shot, few-shot (k = 1, 3, 5;
random vs similar), RAG (k = 1, 3, 5), a gold-paragraph reference and RAG prompt variants; batched vs
one-at-a-time generation throughput (and that both give the same answers); latency per strategy.

Questions come from every other article; few-shot demonstrations from the remaining articles, so no
demonstration shares a paragraph (or an article) with the evaluated question. The index holds all
twelve articles. Writes bench/results/strategies.md.

    .venv/bin/python bench/strategies.py [--questions 200] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import atexit
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from workbench.config import load_config
from workbench.corpus import QAPair, load_squad
from workbench.evaluation.evaluator import mean_scores
from workbench.evaluation.metrics import mean
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
from workbench.indexing import build_index
from workbench.models import GENERATOR, load_generator
from workbench.progress import tqdm_progress
from workbench.strategies import Answer, Context, FewShot, Rag, Source, Strategy, ZeroShot

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
RESULTS = ROOT / "bench" / "results" / "strategies.md"

# RAG user templates tried against the default (configs/prompts.yaml) on the same questions.
RAG_VARIANTS = {
    "plain context (training format)": "Context:\n{sources}\n\nQuestion: {question}",
    "question first, copy a phrase": "Question: {question}\n\nSources:\n{sources}\n\n"
                                     "Answer the question with a few words copied from the sources.",
}


class GoldParagraph(Strategy):
    """Reference upper bound: the question's own paragraph as the only source (RAG template)."""

    name = "rag"

    def _gather(self, pairs: list[QAPair]) -> list[Context]:
        return [Context(sources=(Source(1, -1, p.doc_id or "", 1.0, p.context or "", 0, len(p.context or "")),))
                for p in pairs]


def split_questions(qa_pairs: list[QAPair], n: int) -> tuple[list[QAPair], list[QAPair]]:
    """`n` questions (seed 0) from every other article, and the other articles' pairs as the few-shot
    pool: no demonstration shares an article with an evaluated question."""
    titles = list(dict.fromkeys(p.topic for p in qa_pairs))
    evaluated_titles = set(titles[0::2])
    candidates = [p for p in qa_pairs if p.topic in evaluated_titles]
    pool = [p for p in qa_pairs if p.topic not in evaluated_titles]
    return random.Random(0).sample(candidates, min(n, len(candidates))), pool


def score(answers: list[Answer], pairs: list[QAPair], wall: float) -> dict:
    """The shared evaluator's QA means, on the cleaned answers and on the raw generations."""
    gold = [p.answers for p in pairs]
    clean = mean_scores("qa", [a.text for a in answers], gold)
    raw = mean_scores("qa", [a.raw_text for a in answers], gold)
    return {"n": len(pairs), "em": clean["exact_match"], "f1": clean["token_f1"], "contained": clean["answer_contained"],
            "raw_f1": raw["token_f1"], "raw_contained": raw["answer_contained"],
            "tokens_in": mean([a.tokens_in for a in answers]), "tokens_out": mean([a.tokens_out for a in answers]),
            "retrieval_ms": 1000 * mean([a.retrieval_seconds for a in answers]),
            "generation_s": mean([a.generation_seconds for a in answers]),
            "qps": len(pairs) / wall if wall else None}


def run(label: str, strategy: Strategy, pairs: list[QAPair], results: dict) -> list[Answer]:
    started = time.perf_counter()
    answers = strategy.answer_many(pairs, progress=tqdm_progress())
    results[label] = score(answers, pairs, time.perf_counter() - started)
    print(f"{label}: {results[label]}", file=sys.stderr, flush=True)
    return answers


def throughput(strategy_for, pairs: list[QAPair]) -> dict:
    """Questions/s with batch 8 vs batch 1 on the same questions, and whether the answers agree."""
    timings, texts = {}, {}
    for batch_size in (1, 8):
        strategy = strategy_for(batch_size)
        started = time.perf_counter()
        answers = strategy.answer_many(pairs)
        timings[batch_size] = len(pairs) / (time.perf_counter() - started)
        texts[batch_size] = [a.raw_text for a in answers]
    same = sum(a == b for a, b in zip(texts[1], texts[8]))
    return {"n": len(pairs), "qps_1": timings[1], "qps_8": timings[8], "speedup": timings[8] / timings[1],
            "same": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200, help="for the main strategies")
    parser.add_argument("--grid-questions", type=int, default=60,
                        help="the first N of them for the other k values and the prompt variants")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=400, help="characters per chunk in the bench index")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="an 8-question smoke run, written nowhere")
    args = parser.parse_args()
    if not SQUAD.is_file():
        print(f"skipped: needs {SQUAD} (the shared data sets)", file=sys.stderr)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    n, n_grid = (8, 4) if args.quick else (args.questions, args.grid_questions)
    started = time.perf_counter()

    corpus = load_squad(SQUAD)
    pairs, pool = split_questions(corpus.qa_pairs, n)

    root = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    atexit.register(shutil.rmtree, root, True)  # the bench index is rebuilt every run
    config = load_config(overrides=[f"index.root={root}", f"chunking.chunk_size={args.chunk_size}",
                                    "chunking.chunk_overlap=50"])
    index = build_index("squad", corpus.documents, config=config, root=root)

    generator = load_generator(GENERATOR)
    templates = load_prompts()

    def common(batch_size: int = 8, prompts=templates) -> dict:
        settings = GenerationSettings.from_config(config.updated({"generation.max_new_tokens": args.max_new_tokens,
                                                                  "generation.batch_size": batch_size}))
        engine = GenerationEngine(generator, settings)
        return {"engine": engine, "templates": prompts, "system_prompt": config.generation.system_prompt}

    results: dict[str, dict] = {}
    grid = pairs[:n_grid]
    run("zero-shot", ZeroShot(**common()), pairs, results)
    for selection in ("random", "similar"):
        for k in (1, 3, 5):
            strategy = FewShot(**common(), pool=pool, k=k, selection=selection, seed=config.training.seed)
            run(f"few-shot k={k} {selection}", strategy, pairs if k == 3 else grid, results)
    for k in (1, 3, 5):
        answers = run(f"rag k={k}", Rag(**common(), index=index, k=k), pairs if k == 3 else grid, results)
        if k == 3:
            rag3_on_grid = answers[:n_grid]
    run("gold paragraph (reference)", GoldParagraph(**common()), pairs, results)

    variants = {"default (prompts.yaml)": score(rag3_on_grid, grid, wall=0.0)}
    for label, user in RAG_VARIANTS.items():
        prompts = templates.model_copy(update={"user": {**templates.user, "rag": user}})
        run(label, Rag(**common(prompts=prompts), index=index, k=3), grid, variants)

    speed = {
        "zero-shot": throughput(lambda b: ZeroShot(**common(b)), pairs[:16]),
        "rag k=3": throughput(lambda b: Rag(**common(b), index=index, k=3), pairs[:8]),
    }
    total = time.perf_counter() - started
    report = render(args, n=len(pairs), pool=len(pool), chunks=index.info().get("chunks"), results=results,
                    variants=variants, subset=n_grid, speed=speed, total=total)
    if args.quick:
        print(report)
    else:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULTS.with_suffix(".md.tmp")
        tmp.write_text(report)
        tmp.replace(RESULTS)
        print(f"wrote {RESULTS} in {total / 60:.1f} min", file=sys.stderr)
    return 0


def _table(rows: dict[str, dict]) -> list[str]:
    lines = ["| strategy | questions | EM | token F1 | answer contained | F1 / contained without clean-up | tokens in | "
             "tokens out | retrieval ms | generation s/q | q/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows.items():
        qps = f"{r['qps']:.2f}" if r["qps"] else "(above)"
        lines.append(f"| {label} | {r['n']} | {r['em']:.3f} | {r['f1']:.3f} | {r['contained']:.3f} | "
                     f"{r['raw_f1']:.3f} / {r['raw_contained']:.3f} | {r['tokens_in']:.0f} | {r['tokens_out']:.1f} | "
                     f"{r['retrieval_ms']:.1f} | {r['generation_s']:.2f} | {qps} |")
    return lines


def render(args, *, n, pool, chunks, results, variants, subset, speed, total) -> str:
    lines = [
        "# Answering strategies: SmolLM2-135M-Instruct on SQuAD v1.1 dev (12 articles)",
        "",
        f"Produced by `bench/strategies.py` in {total / 60:.1f} min ({torch.get_num_threads()} torch threads, "
        f"CPU shared with other work). {n} questions sampled (seed 0) from 6 of the 12 articles (the other "
        f"k values and the prompt variants: the first {subset} of them, see the questions column); few-shot "
        f"demonstrations from the other 6 ({pool} QA pairs). Index: all 12 articles, {chunks} chunks of "
        f"{args.chunk_size} characters (overlap 50), all-MiniLM-L6-v2, flat. Greedy decoding, "
        f"max_new_tokens {args.max_new_tokens}, batch 8. Scores use the shared metrics "
        "(workbench/evaluation/metrics.py) on the cleaned answer (prompts.yaml `postprocess`); the raw "
        "model output is scored too. Latency columns are per question, the batch's time shared out.",
        "",
        "## Quality and latency",
        "",
        *_table(results),
        "",
        f"## RAG prompt variants (rag k=3, the first {subset} questions)",
        "",
        *_table(variants),
        "",
        "## Batched vs one-at-a-time generation (greedy)",
        "",
        "| strategy | questions | q/s batch 1 | q/s batch 8 | speed-up | same answers |",
        "|---|---|---|---|---|---|",
        *[f"| {label} | {s['n']} | {s['qps_1']:.2f} | {s['qps_8']:.2f} | {s['speedup']:.2f}x | {s['same']}/{s['n']} |"
          for label, s in speed.items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
