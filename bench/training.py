"""Finetuning benchmark → bench/results/training.md (+ training.json).

Sections (`--sections`, default all; a section not re-run keeps its numbers and its date):

- classification: MiniLM backbone; feature, head, last-n (N=1, 2), full and lora on SST-2 (the 6,000
  shared training rows, 1 epoch; the 872 dev rows) and on the demo corpus topics (3 epochs, it is tiny);
- generator: two LoRA adapters on SmolLM2-135M-Instruct, trained on the SQuAD QA pairs of 9 articles
  with the gold paragraph or with the retrieved top-3 chunks in the prompt (RAFT), then every
  answering strategy (untuned and with each adapter; no context, retrieved top-3, gold paragraph) on
  held-out questions of the 3 other articles, scored by workbench.evaluation.qa; eval loss and the
  forgetting probe (completion loss on general instructions before/after) per adapter;
- throughput: tokens/s of naive batching vs ours, without and with gradient checkpointing, and the peak
  RSS of SmolLM2 LoRA at batch 8 x 384 tokens (every batch padded to 384), also with glibc's allocator
  returning freed tensors to the system.

Every measured run is a subprocess of its own (`--one SPEC`): a process's peak RSS (`ru_maxrss`, the
kernel's high-water mark) never goes down, so runs measured one after another in one process would
each report the largest peak so far.

Usage: .venv/bin/python bench/training.py [--sections classification,throughput] [--quick]
(--quick: subsample everything, a smoke run)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "training.md"
SQUAD = SHARED / "squad-v1.1-dev-articles-00-11.json"
INSTRUCTIONS = SHARED / "instruction-data.json"
SECTIONS = ("classification", "generator", "throughput")

from strategies import GoldParagraph  # noqa: E402  bench/strategies.py: the question's own paragraph as the source

from workbench.config import load_config  # noqa: E402
from workbench.corpus import load_demo_corpus, load_instructions, load_labeled_table, load_squad  # noqa: E402
from workbench.evaluation.qa import evaluate_strategy  # noqa: E402
from workbench.indexing import build_index, open_index  # noqa: E402
from workbench.strategies import StrategyFactory, StrategyOptions  # noqa: E402
from workbench.training.classifier import ClassifierOptions, split_holdout, train_classifier  # noqa: E402
from workbench.training.examples import PromptCompletion, instruction_examples, qa_examples  # noqa: E402
from workbench.training.generator import GeneratorOptions, train_generator  # noqa: E402

CLASSIFIER_METHODS = [  # (label, method, last_n, backbone learning rate, head learning rate)
    ("feature", "feature", 1, 5e-5, 1e-3),  # scikit-learn's logistic regression: no learning rate used
    ("head", "head", 1, 5e-5, 1e-2),  # at 1e-3 the lone head learns slowly (SST-2: 63.8 % after 2,000 rows)
    ("last-n (N=1)", "last-n", 1, 5e-5, 1e-3),
    ("last-n (N=2)", "last-n", 2, 5e-5, 1e-3),
    ("full", "full", 1, 5e-5, 1e-3),
    ("lora (r=8)", "lora", 1, 5e-4, 1e-3),
]
CLASSIFICATION_DATA = {"SST-2": (1, 64), "demo topics": (3, 128)}  # name: (epochs, max_length)

# Generator quality: LoRA r=8 trained with each context on the QA pairs of the first 9 articles (sorted
# by title), every strategy evaluated on pairs of the other 3. The index holds all 12 articles in 400-character
# chunks (better than 800 for retrieval and RAG in bench/results/indexing.md and strategies.md).
ADAPTER_CONTEXTS = ("gold", "retrieved")
QUALITY = {"train_pairs": 240, "eval_pairs": 100, "general": 64, "k": 3, "chunk_size": 400, "max_length": 512,
           "learning_rate": 5e-4, "max_new_tokens": 24}
QUICK_QUALITY = {**QUALITY, "train_pairs": 16, "eval_pairs": 8, "general": 8}

# Throughput variants, all LoRA r=8, batch 8, max_length 384. Naive: every batch padded to 384, random
# order, loss on every token (logits at every position, transformers' loss). Ours: dynamic padding,
# length-grouped batches, prompt masked, logits only where a label follows.
VARIANTS = {"naive": {"naive": True, "checkpointing": False},
            "ours without checkpointing": {"naive": False, "checkpointing": False},
            "ours": {"naive": False, "checkpointing": True}}
THROUGHPUT_STEPS = 2
# glibc keeps freed heap memory for reuse, fragmented between the tensors still alive; with this, every
# allocation of 1 MiB or more gets its own mapping, returned to the system when freed.
SMALL_HEAP = {"MALLOC_MMAP_THRESHOLD_": "1048576"}
MEMORY_RUNS = [  # at batch 8 x 384 (naive: its throughput run): (label, variant, extra environment)
    ("ours without checkpointing", "ours without checkpointing", {}),
    ("ours", "ours", {}),
    ("ours, MALLOC_MMAP_THRESHOLD_=1048576", "ours", SMALL_HEAP),
]


# ---- one measured run (in its own process) ----------------------------------------------------------


def bench_config(values: dict[str, Any]):
    """The default config with these settings, seed 42 and no checkpoints (they would only cost time here)."""
    return load_config().updated({"training.seed": 42, "training.checkpoint_every": 0, **values})


def classification_data(name: str, quick: bool) -> tuple[list, list]:
    """(train, dev) labelled rows: SST-2's shared files, or the demo paragraphs split by a seeded stratified 10 %."""
    if name == "SST-2":
        train = load_labeled_table(SHARED / "sst2-train-6000.tsv", "sentence", "label")
        dev = load_labeled_table(SHARED / "sst2-dev.tsv", "sentence", "label")
        return (random.Random(42).sample(train, 320), dev[:96]) if quick else (train, dev)
    topics = load_demo_corpus().labeled_documents()
    train_ids, dev_ids = split_holdout([t.text for t in topics], [t.label for t in topics], seed=42)
    return [topics[i] for i in train_ids], [topics[i] for i in dev_ids]


def run_classifier(spec: dict[str, Any], output: Path) -> dict[str, Any]:
    train, dev = classification_data(spec["data"], spec["quick"])
    epochs, max_length = CLASSIFICATION_DATA[spec["data"]]
    options = ClassifierOptions.from_config(bench_config({
        "training.classifier.epochs": 1 if spec["quick"] else epochs, "training.classifier.batch_size": 32,
        "training.classifier.learning_rate": spec["learning_rate"], "training.classifier.method": spec["method"],
        "training.classifier.last_n": spec["last_n"], "training.classifier.max_length": max_length,
        "training.classifier.head_learning_rate": spec["head_learning_rate"]}))
    run = train_classifier([r.text for r in train], [r.label for r in train], options, output,
                           eval_texts=[r.text for r in dev], eval_labels=[r.label for r in dev], source=spec["data"])
    s = run.summary()
    return {"accuracy": s["final"]["accuracy"], "macro_f1": s["final"]["macro_f1"], "trainable": s["trainable_params"],
            "share": s["trainable_percent"], "wall": s["wall_seconds"], "truncated": s["truncated_train_texts"],
            "train": len(train), "dev": len(dev)}


class GoldParagraphFinetuned(GoldParagraph):
    """The gold paragraph as the only source, in the finetuned generator's prompt (`rag+finetuned`)."""

    name = "rag+finetuned"


def quality_setup(work: Path, quick: bool) -> tuple[Any, list, list, dict[str, Any]]:
    """(config with the bench index, train pairs, eval pairs, settings): the same in every process."""
    settings = QUICK_QUALITY if quick else QUALITY
    config = load_config(overrides=[f"index.root={work / 'index'}", f"chunking.chunk_size={settings['chunk_size']}",
                                    "chunking.chunk_overlap=50", f"retrieval.k={settings['k']}"])
    pairs = load_squad(SQUAD).qa_pairs
    titles = sorted({p.topic for p in pairs})
    rng = random.Random(42)
    train = rng.sample([p for p in pairs if p.topic in titles[:9]], settings["train_pairs"])
    held_out = rng.sample([p for p in pairs if p.topic in titles[9:]], settings["eval_pairs"])
    return config, train, held_out, {**settings, "train_articles": titles[:9], "eval_articles": titles[9:]}


def run_generator_training(spec: dict[str, Any], output: Path) -> dict[str, Any]:
    """One LoRA adapter trained with `spec['context']` (gold or retrieved) in every prompt."""
    config, train, held_out, settings = quality_setup(Path(spec["work"]), spec["quick"])
    system = config.generation.system_prompt
    index = open_index("squad", root=config.index.root) if spec["context"] == "retrieved" else None

    def examples(pairs):
        return qa_examples(pairs, system, spec["context"], index, settings["k"])

    general = instruction_examples(random.Random(42).sample(load_instructions(INSTRUCTIONS), settings["general"]), system)
    options = dataclasses.replace(GeneratorOptions.from_config(bench_config({
        "training.generator.epochs": 1, "training.generator.batch_size": 8,
        "training.generator.learning_rate": settings["learning_rate"], "training.generator.method": "lora",
        "training.generator.max_length": settings["max_length"], "training.generator.eval_generate": 0})),
        compare_untuned=True)
    run = train_generator(examples(train), options, output, examples(held_out), general=general,
                          source=f"SQuAD QA + {spec['context']} context")
    return {"summary": run.summary(), "path": str(run.path)}


def run_generator_answers(spec: dict[str, Any], output: Path) -> dict[str, Any]:
    """Every strategy, untuned and with each adapter, on the held-out questions (workbench.evaluation.qa)."""
    config, _, held_out, settings = quality_setup(Path(spec["work"]), spec["quick"])
    adapters = tuple(f"{context}={path}" for context, path in spec["adapters"].items())
    factory = StrategyFactory(config.updated({"generation.max_new_tokens": settings["max_new_tokens"]}),
                              StrategyOptions(index="squad", adapters=adapters))  # k: quality_setup's retrieval.k
    finetuned = factory.build("finetuned")
    common = {"engine": factory.engine, "templates": factory.templates, "system_prompt": config.generation.system_prompt}
    gold = [GoldParagraph(**common), *(GoldParagraphFinetuned(**common, adapter=s.adapter) for s in finetuned)]
    rows = []
    for context, strategies in (("none", [*factory.build("zero-shot"), *finetuned]),
                                (f"retrieved top-{settings['k']}", [*factory.build("rag"), *factory.build("rag+finetuned")]),
                                ("gold paragraph", gold)):
        for strategy in strategies:
            print(f"[generator] answers: {context}, {strategy.label}", file=sys.stderr, flush=True)
            scores = evaluate_strategy(strategy, held_out)
            rows.append({"context": context, "adapter": strategy.adapter.name if strategy.adapter else "untuned",
                         "strategy": strategy.label, **dataclasses.asdict(scores)})
    return {"rows": rows}


def throughput_examples(system: str) -> dict[str, list[PromptCompletion]]:
    rng = random.Random(7)
    return {"SQuAD QA + gold context": qa_examples(rng.sample(load_squad(SQUAD).qa_pairs, 96), system, "gold"),
            "Alpaca instructions": instruction_examples(rng.sample(load_instructions(INSTRUCTIONS), 96), system)}


def run_throughput(spec: dict[str, Any], output: Path) -> dict[str, Any]:
    examples = throughput_examples(load_config().generation.system_prompt)[spec["data"]]
    naive = spec["naive"]
    options = GeneratorOptions.from_config(bench_config({
        "training.generator.epochs": 1, "training.generator.batch_size": 8, "training.generator.learning_rate": 3e-4,
        "training.max_steps": spec["steps"], "training.group_by_length": not naive, "training.generator.method": "lora",
        "training.generator.max_length": 384, "training.generator.eval_generate": 0,
        "training.generator.gradient_checkpointing": spec["checkpointing"]}))
    # What only the naive baseline and the memory measurement change (not user settings):
    options = dataclasses.replace(options, mask_prompt=not naive, logits_on_labels_only=not naive,
                                  pad_to_max_length=naive or spec["padded"])
    s = train_generator(examples, options, output, examples[:8], source=spec["data"]).summary()
    return {"tokens_per_second": s["tokens_per_second"], "examples_per_second": s["examples_per_second"],
            "seconds_per_step": round(s["train_seconds"] / s["steps"], 1)}


RUNNERS = {"classifier": run_classifier, "generator-training": run_generator_training,
           "generator-answers": run_generator_answers, "throughput": run_throughput}


def run_one(spec: dict[str, Any]) -> None:
    """The `--one` child: run `spec`, print its result and this process's peak RSS as one JSON line."""
    result = RUNNERS[spec["run"]](spec, Path(spec["output"]))
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps(result))


def measure(spec: dict[str, Any], work: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `spec` in a fresh interpreter (in a new folder under `work`) and return its result."""
    output = work / f"run-{len(list(work.glob('run-*')))}"
    done = subprocess.run([sys.executable, __file__, "--one", json.dumps({**spec, "output": str(output)})],
                          env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


# ---- sections ---------------------------------------------------------------------------------------


def classification(work: Path, quick: bool) -> dict[str, Any]:
    """Every method on both data sets. A fresh embedding cache: `feature` pays for its embeddings."""
    env = {"WORKBENCH_HOME": str(work / "home")}
    rows = []
    for data in CLASSIFICATION_DATA:
        for label, method, last_n, learning_rate, head_learning_rate in CLASSIFIER_METHODS:
            print(f"[classification] {data}: {label}", file=sys.stderr, flush=True)
            spec = {"run": "classifier", "data": data, "method": method, "last_n": last_n, "quick": quick,
                    "learning_rate": learning_rate, "head_learning_rate": head_learning_rate}
            rows.append({"data": data, "method": label, **measure(spec, work, env)})
    return {"rows": rows}


def generator(work: Path, quick: bool) -> dict[str, Any]:
    """The bench index, one adapter per context (each its own process), then every strategy's answers."""
    config, train, held_out, settings = quality_setup(work, quick)
    print("[generator] index: 12 SQuAD articles", file=sys.stderr, flush=True)
    index = build_index("squad", load_squad(SQUAD).documents, config=config, root=config.index.root)
    gold_in_top_k = sum(any(h.doc_id == p.doc_id for h in hits)
                        for p, hits in zip(held_out, index.search_many([p.question for p in held_out], settings["k"])))
    runs = {}
    for context in ADAPTER_CONTEXTS:
        print(f"[generator] lora with {context} context", file=sys.stderr, flush=True)
        runs[context] = measure({"run": "generator-training", "context": context, "quick": quick, "work": str(work)}, work)
    print("[generator] answers", file=sys.stderr, flush=True)
    answers = measure({"run": "generator-answers", "quick": quick, "work": str(work),
                       "adapters": {context: run["path"] for context, run in runs.items()}}, work)
    return {"settings": settings, "chunks": index.info().get("chunks"), "gold_in_top_k": gold_in_top_k / len(held_out),
            "train_pairs": len(train), "eval_pairs": len(held_out), "runs": runs, "answers": answers}


def throughput(work: Path, quick: bool) -> dict[str, Any]:
    """Each variant on both data sets (same examples, same number of steps), then ours at batch 8 x 384."""
    steps = 1 if quick else THROUGHPUT_STEPS
    rows, memory = [], []
    for data in ("SQuAD QA + gold context", "Alpaca instructions"):
        for variant, flags in VARIANTS.items():
            print(f"[throughput] {data}: {variant}", file=sys.stderr, flush=True)
            spec = {"run": "throughput", "data": data, "steps": steps, "padded": False, **flags}
            rows.append({"data": data, "variant": variant, **measure(spec, work)})
    memory.append(rows[0])  # naive SQuAD: already every batch padded to 384
    for label, variant, env in MEMORY_RUNS:
        print(f"[memory] batch 8 x 384: {label}", file=sys.stderr, flush=True)
        spec = {"run": "throughput", "data": "SQuAD QA + gold context", "steps": steps, "padded": True,
                **VARIANTS[variant]}
        memory.append({"data": "SQuAD QA + gold context", "variant": label, **measure(spec, work, env)})
    return {"steps": steps, "rows": rows, "memory": memory}


RUN_SECTION = {"classification": classification, "generator": generator, "throughput": throughput}


# ---- report -----------------------------------------------------------------------------------------


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def provenance(section: dict[str, Any]) -> str:
    quick = " --quick" if section.get("quick") else ""
    note = f" {section['note']}" if "note" in section else ""
    return f"Run {section['date']}{quick}, {section['minutes']:.1f} min.{note}"


def classification_report(section: dict[str, Any]) -> list[str]:
    sizes = {r["data"]: (r["train"], r["dev"]) for r in section["rows"]}
    lines = ["## Classification (MiniLM backbone, same split per data set)", "", provenance(section), "",
             f"SST-2: train {sizes['SST-2'][0]:,} / dev {sizes['SST-2'][1]}, 1 epoch, batch 32, max_length 64. "
             f"Demo topics: {sizes['demo topics'][0]} / {sizes['demo topics'][1]} paragraphs (seeded stratified split, "
             "6 article titles), 3 epochs, max_length 128 (longer paragraphs truncated, counted). Learning rates: "
             "head 1e-2 for `head` (at 1e-3 the lone head learns slowly: 63.8 % on SST-2 after one epoch of 2,000 rows "
             "in the 2026-11-22 run), else 1e-3; backbone "
             "5e-5 (last-n, full) or 5e-4 (LoRA r=8, alpha 16, query/value). `feature` is scikit-learn's logistic "
             "regression on embeddings computed in the run (empty cache). Peak RSS: the run's own process.", "",
             "| data | method | accuracy | macro-F1 | trainable params | share | wall s | peak RSS |",
             "|---|---|---|---|---|---|---|---|"]
    for r in section["rows"]:
        lines.append(f"| {r['data']} | {r['method']} | {100 * r['accuracy']:.2f} % | {100 * r['macro_f1']:.2f} % | "
                     f"{r['trainable']:,} | {r['share']:.3f} % | {r['wall']:.0f} | {gb(r['peak_rss'])} |")
    return lines + ["", "Published pattern (DistilBERT on IMDB, Raschka's LLM-finetuning-scripts): feature 87.95 %, "
                        "head 86.63 %, full 92.14 %.", ""]


def generator_report(section: dict[str, Any]) -> list[str]:
    settings, runs = section["settings"], section["runs"]
    lines = ["## Generator: LoRA on SQuAD QA, gold or retrieved context (RAFT), answered through the strategies", "",
             provenance(section), "",
             f"SmolLM2-135M-Instruct, LoRA r=8 (q_proj, v_proj), 1 epoch, batch 8, learning rate "
             f"{settings['learning_rate']}, max_length {settings['max_length']}. Each adapter learns from the same "
             f"{section['train_pairs']} QA pairs of articles {', '.join(settings['train_articles'])}, in the prompt "
             "`rag+finetuned` sends (configs/prompts.yaml): with the question's gold paragraph as source [1], or with "
             f"the top-{settings['k']} chunks that hybrid retrieval returns from an index of all 12 articles "
             f"({section['chunks']} chunks of {settings['chunk_size']} characters). Evaluated on {section['eval_pairs']} "
             f"pairs of the unseen articles {', '.join(settings['eval_articles'])}: eval loss (completion tokens, the "
             "adapter's own prompt format), and below, the answers of every strategy (greedy, "
             f"{settings['max_new_tokens']} new tokens, scored by workbench/evaluation/qa.py).", "",
             "| adapter trained with | eval loss untuned → tuned | trainable | adapter | tokens/s | wall s | peak RSS | "
             f"forgetting: general-instruction loss before → after ({settings['general']} examples) |",
             "|---|---|---|---|---|---|---|---|"]
    for context, run in runs.items():
        s = run["summary"]
        before, after = s["forgetting"]["before"], s["forgetting"]["after"]
        lines.append(f"| {context} context | {s['untuned']['eval_loss']:.3f} → {s['final']['eval_loss']:.3f} | "
                     f"{s['trainable_params']:,} ({s['trainable_percent']:.2f} %) | {s['saved_bytes'] / 1e6:.1f} MB | "
                     f"{s['tokens_per_second']:.0f} | {s['wall_seconds']:.0f} | {gb(run['peak_rss'])} | "
                     f"{before['loss']:.3f} → {after['loss']:.3f} (perplexity {before['perplexity']:.2f} → "
                     f"{after['perplexity']:.2f}) |")
    lines += ["", f"Answers ({section['eval_pairs']} held-out questions; the gold paragraph is among the retrieved "
                  f"top-{settings['k']} for {100 * section['gold_in_top_k']:.0f} % of them). Untuned rows use the `rag` "
                  "template for context (its instruction helps the untuned model), adapter rows the `rag+finetuned` "
                  "template they were trained on; `gold paragraph` puts the question's own paragraph where the "
                  "retrieved chunks would go (an upper bound for retrieval).", "",
              "| context in the prompt | generator | strategy | EM | token F1 | answer contained | tokens in | q/s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in section["answers"]["rows"]:
        generator = "untuned" if r["adapter"] == "untuned" else f"LoRA ({r['adapter']}-trained)"
        lines.append(f"| {r['context']} | {generator} | {r['strategy']} | {r['exact_match']:.3f} | {r['token_f1']:.3f} | "
                     f"{r['answer_contained']:.3f} | {r['tokens_in']:.0f} | {r['questions_per_second']:.2f} |")
    return lines + [""]


def throughput_report(section: dict[str, Any]) -> list[str]:
    naive = {r["data"]: r["tokens_per_second"] for r in section["rows"] if r["variant"] == "naive"}
    lines = ["## Training throughput: naive batching vs ours (same examples, same steps)", "", provenance(section), "",
             f"LoRA r=8, batch 8, max_length 384, the first {section['steps']} optimizer steps of an epoch. "
             "Naive: every batch padded to 384 tokens, random order, loss on every token (logits at every position, "
             "transformers' loss), no checkpointing. "
             "Ours: dynamic padding, length-grouped batches, prompt masked, LM head only at the positions followed by "
             "a completion token; with or without gradient checkpointing. Tokens/s counts real (non-padding) tokens.", "",
             "| data | variant | tokens/s | examples/s | speed-up | s/step | peak RSS |", "|---|---|---|---|---|---|---|"]
    for r in section["rows"]:
        lines.append(f"| {r['data']} | {r['variant']} | {r['tokens_per_second']:.0f} | {r['examples_per_second']:.2f} | "
                     f"{r['tokens_per_second'] / naive[r['data']]:.2f}× | {r['seconds_per_step']:.1f} | {gb(r['peak_rss'])} |")
    lines += ["", "### Peak RSS of SmolLM2 LoRA at batch 8 × 384 tokens (target ≤ 3 GB)", "",
              "SQuAD QA + gold context, every batch padded to 384 tokens (the naive row is the naive run above). "
              "Ours learns the completion only, so its LM head runs on a few positions per example. The last row is "
              "the same run with glibc's allocator told to map every allocation of 1 MiB or more on its own, so "
              "that freed tensors go back to the system instead of staying in a fragmented heap (an environment "
              "variable, not a code change).", "",
              "| variant | s/step | peak RSS |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['seconds_per_step']:.1f} | {gb(r['peak_rss'])} |" for r in section["memory"]]
    ours = next(r["peak_rss"] for r in section["memory"] if r["variant"] == "ours")
    return lines + ["", f"Ours, as shipped: {gb(ours)}, {'within' if ours <= 3e9 else 'over'} the 3 GB target.", ""]


REPORT = {"classification": classification_report, "generator": generator_report, "throughput": throughput_report}


def write_report(results: dict[str, dict[str, Any]]) -> None:
    lines = ["# Finetuning benchmark", "",
             "`bench/training.py`, CPU only (2 cores shared with other jobs: wall times are noisy, compare within a "
             "table). Each measured run is a process of its own; its peak RSS is that process's `ru_maxrss`. "
             "Sections were run separately (`--sections`); each says when.", ""]
    for name in SECTIONS:
        if name in results:
            lines += REPORT[name](results[name])
    RESULTS.write_text("\n".join(lines))
    RESULTS.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="subsample everything (smoke run)")
    parser.add_argument("--one", metavar="SPEC", help=argparse.SUPPRESS)  # internal: one measured run, as JSON
    args = parser.parse_args()
    if args.one:
        run_one(json.loads(args.one))
        return
    sections = args.sections.split(",")
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS)})")
    if not (SHARED / "README.md").is_file():
        sys.exit(f"needs the shared data sets in {SHARED}")
    json_path = RESULTS.with_suffix(".json")
    results = json.loads(json_path.read_text()) if json_path.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="wb-bench-training-") as tmp:
        for name in sections:
            started = time.perf_counter()
            section = RUN_SECTION[name](Path(tmp), args.quick)
            minutes = round((time.perf_counter() - started) / 60, 1)
            results[name] = {"date": time.strftime("%Y-%m-%d"), "minutes": minutes, "quick": args.quick, **section}
    write_report(results)
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
