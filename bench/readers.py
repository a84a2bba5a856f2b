"""Which embedded generator reads documents better: SmolLM2-135M-Instruct (chat) or Gemma 3 270M (base,
completion template ending in "Answer:"), zero-shot and with RAG, and what each costs.

Measured, for each generator (`models.generator=NAME`), through `Workbench.evaluate` with the
default settings (retrieval.k 3, hybrid BM25 + dense; greedy; max_new_tokens 64; short answers stop at
the first line and are cleaned up as configs/prompts.yaml says):
- A. SQuAD v1.1 dev, articles 00-11 (../shared/data; table A is skipped with a message when absent):
  every paragraph indexed once (default chunking), `--questions` questions (200) sampled with seed 0
  from all twelve articles, the same questions for every row; zero-shot and rag.
- B. The three real manuals of bench/documents.py (MPFR HTML pages, the shared-mime-info PDF, the
  PreviSat Word manual; fetched by its `fetch_documents` when missing) indexed with `Workbench.index`,
  and its 66 hand-written questions; zero-shot and rag.
- For SmolLM2 only, rag once more with a plain prompt file (user.rag = "Context / Question / Short
  answer:") on both data sets: does workbench's default RAG template cost it accuracy?
- Paired differences on the same items (gemma minus smollm2 per data set and strategy; smollm2 plain
  minus default prompt): token F1 with a paired bootstrap, answer-contained with McNemar's exact test
  (workbench/evaluation/statistics.py), mean difference with its 95 % bootstrap interval, Holm-corrected
  over the comparisons of each metric, and the smallest difference each comparison could detect.
- Cost: cold load seconds and resident memory in fresh processes (RSS before and after
  `workbench.models.load_generator`, and the peak while answering a batch of 8 RAG-sized prompts; 3
  rounds, alternating the models, median), parameter count; per row the wall seconds per question and
  the mean prompt and answer tokens (QAScores).
The share of questions whose retrieved sources contain a gold answer (same index and k for every
generator) is reported beside each RAG row as the reading ceiling.

Run: .venv/bin/python bench/readers.py [--questions 200] [--load-rounds 3] [--quick]
(about 30-45 min on 2 cores; HF_HUB_OFFLINE=1 is set). Writes bench/results/readers.md and
readers.json; --report-only rewrites the .md from the .json; --quick is an 8-question smoke run that
writes only $TMPDIR/readers-quick.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SQUAD = ROOT.parent / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
RESULTS = BENCH / "results" / "readers.md"
RESULTS_JSON = BENCH / "results" / "readers.json"
GENERATORS = {"smollm2-135m-instruct": "SmolLM2-135M-Instruct", "gemma-3-270m": "Gemma 3 270M"}
SHORT = {"smollm2-135m-instruct": "SmolLM2", "gemma-3-270m": "Gemma"}
STRATEGIES = ("zero-shot", "rag")
PLAIN_RAG = "Context:\n{sources}\n\nQuestion: {question}\nShort answer:"
DATASETS = {"squad": "A. SQuAD v1.1 dev (12 articles)", "manuals": "B. Real manuals (HTML, PDF, Word)"}
METRICS = {"exact_match": "EM", "token_f1": "token F1", "answer_contained": "contained"}
PAIRED_METRICS = ("token_f1", "answer_contained")
BATCH_PROMPT_WORDS = 420  # about 600 tokens: a RAG prompt with three 800-character chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=200, help="SQuAD questions (seed 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load-rounds", type=int, default=3, help="fresh processes per generator for the cost table")
    parser.add_argument("--quick", action="store_true",
                        help="8 questions per data set, 1 load round; writes only readers-quick.json in the temp folder")
    parser.add_argument("--report-only", action="store_true", help="rewrite readers.md from readers.json")
    parser.add_argument("--measure-load", help=argparse.SUPPRESS)  # internal: one cold load, in a fresh process
    args = parser.parse_args()
    if args.measure_load:
        print(json.dumps(measure_load(args.measure_load)))
        return 0
    if args.report_only:
        results = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
        RESULTS.write_text(report(results) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")
        return 0

    started = time.perf_counter()
    n_squad, n_manuals, rounds = (8, 8, 1) if args.quick else (args.questions, None, args.load_rounds)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "load_average_start": os.getloadavg()[0],
                     "questions": args.questions if not args.quick else 8, "seed": args.seed}
    results["cost"] = load_costs(rounds)
    print("cost done", flush=True)
    with tempfile.TemporaryDirectory(prefix="wb-readers-") as tmp:
        tmp = Path(tmp)
        if SQUAD.is_file():
            records, info = squad_data(tmp, n_squad, args.seed)
            results["squad"] = {"setup": info, **evaluate_rows(tmp, "squad", records)}
        else:
            results["squad"] = {"skipped": f"{SQUAD} is absent (the shared data sets): table A skipped"}
            print(results["squad"]["skipped"], file=sys.stderr, flush=True)
        print("data A done", flush=True)
        records, info = manuals_data(tmp, n_manuals)
        results["manuals"] = {"setup": info, **evaluate_rows(tmp, "manuals", records)}
        print("data B done", flush=True)
    results["paired"] = paired_differences(results)
    results["settings"] = settings_of()
    results["load_average_end"] = os.getloadavg()[0]
    results["torch_threads"] = _torch_threads()
    results["minutes"] = (time.perf_counter() - started) / 60
    if args.quick:  # the results stay out of bench/results; the JSON goes to the temp folder
        quick = Path(tempfile.gettempdir()) / "readers-quick.json"
        quick.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(report(results), f"\n(quick run: {quick})")
        return 0
    text = report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {RESULTS} and {RESULTS_JSON} in {results['minutes']:.1f} min", flush=True)
    return 0


# ---------------------------------------------------------------- cost

def measure_load(name: str) -> dict:
    """In this (fresh) process: the generator's cold load, RSS before and after it, its parameters, and
    the peak RSS while answering one batch of 8 RAG-sized prompts (16 new tokens)."""
    import resource

    import psutil
    import torch

    from workbench.generation import GenerationEngine, GenerationSettings
    from workbench.models import load_generator

    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    generator = load_generator(name)
    seconds = time.perf_counter() - started
    after = process.memory_info().rss
    peak_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model = generator.model
    parameters = sum(p.numel() for p in model.parameters())  # shared (tied) tensors counted once
    embedding = model.get_input_embeddings().weight.numel()
    engine = GenerationEngine(generator, GenerationSettings(max_new_tokens=16, batch_size=8))
    words = " ".join(["the documents say that the value is set at start"] * (BATCH_PROMPT_WORDS // 10))
    prompts = [engine.encode(engine.render([{"role": "user", "content": f"{words} {i}\nQuestion: what is set?"}]))
               for i in range(8)]
    head = model.get_output_embeddings()  # on the CPU a frozen oneDNN copy (models/loading.py fast_output_layer)
    head_copy = head.weight.numel() * 4 if type(head).__name__ == "MkldnnLinear" else 0
    with torch.inference_mode():
        engine.generate(prompts)
    answered = process.memory_info().rss
    return {"name": name, "load_seconds": seconds, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20,
            "loaded_mb": (after - before) / 2**20, "peak_load_mb": peak_load / 2**20,
            "answered_mb": (answered - before) / 2**20, "output_layer_copy_mb": head_copy / 2**20,
            "peak_answering_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "batch_prompt_tokens": sum(map(len, prompts)) / len(prompts),
            "parameters": parameters, "embedding_parameters": embedding,
            "dtype": str(next(model.parameters()).dtype), "vocabulary": len(generator.tokenizer),
            "context_window": engine.window, "torch_threads": torch.get_num_threads()}


def load_costs(rounds: int) -> dict:
    """`rounds` fresh processes per generator, alternating; the medians and every round."""
    runs: dict[str, list[dict]] = {name: [] for name in GENERATORS}
    for _ in range(rounds):
        for name in GENERATORS:
            done = subprocess.run([sys.executable, __file__, "--measure-load", name], capture_output=True, text=True,
                                  check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"load {name}: {runs[name][-1]['load_seconds']:.2f} s", flush=True)
    median = ("load_seconds", "rss_before_mb", "rss_after_mb", "loaded_mb", "peak_load_mb", "peak_answering_mb",
              "answered_mb")
    return {name: {**rows[0], **{key: statistics.median(r[key] for r in rows) for key in median},
                   "rounds": rows, "disk_mb": _disk_mb(name)} for name, rows in runs.items()}


def _disk_mb(name: str) -> float | None:
    from workbench.models.registry import resolve

    try:
        folder = Path(resolve(name, "generator"))
    except Exception:  # noqa: BLE001 - the size is a nicety
        return None
    return sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 2**20


# ---------------------------------------------------------------- data

def squad_data(tmp: Path, n: int, seed: int) -> tuple[Path, dict]:
    """Every paragraph indexed as `squad`; `n` questions (seed) written as QA records."""
    from workbench.config import load_config
    from workbench.corpus import load_squad
    from workbench.indexing import build_index

    corpus = load_squad(SQUAD)
    config = load_config(overrides=[f"index.root={tmp / 'indexes'}"])
    started = time.perf_counter()
    index = build_index("squad", corpus.documents, config=config)
    seconds = time.perf_counter() - started
    pairs = random.Random(seed).sample(corpus.qa_pairs, min(n, len(corpus.qa_pairs)))
    records = tmp / "squad-questions.jsonl"
    records.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answers": list(p.answers),
                                           "context": p.context, "doc_id": p.doc_id}) + "\n" for p in pairs),
                       encoding="utf-8")
    info = index.info()
    return records, {"paragraphs": len(corpus.documents), "qa_pairs": len(corpus.qa_pairs), "questions": len(pairs),
                     "chunks": info.get("chunks"), "index_seconds": seconds}


def manuals_data(tmp: Path, n: int | None) -> tuple[Path, dict]:
    """The manuals indexed as `manuals` with `Workbench.index`; their questions as QA records."""
    sys.path.insert(0, str(BENCH))
    from documents import QUESTIONS, fetch_documents  # bench/documents.py: stdlib only at import

    from workbench.config import load_config
    from workbench.requests import IndexRequest
    from workbench.session import Workbench

    sources = fetch_documents()
    config = load_config(overrides=[f"index.root={tmp / 'indexes'}"])
    started = time.perf_counter()
    index = Workbench(config).index(IndexRequest(name="manuals", paths=sources))
    seconds = time.perf_counter() - started
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = questions[:n] if n else questions
    records = tmp / "manuals-questions.jsonl"
    records.write_text("".join(json.dumps({"id": q["id"], "question": q["question"], "answers": q["answers"]}) + "\n"
                               for q in questions), encoding="utf-8")
    info = index.info()
    return records, {"files": [s.name for s in sources], "questions": len(questions), "chunks": info.get("chunks"),
                     "documents": info.get("documents"), "index_seconds": seconds}


# ---------------------------------------------------------------- evaluation

def evaluate_rows(tmp: Path, name: str, records: Path) -> dict:
    """Every generator's zero-shot and rag rows on index `name`, and SmolLM2's rag with the plain prompt."""
    from workbench.config import load_config
    from workbench.session import Workbench
    from workbench.strategies import StrategyOptions

    plain = tmp / "plain-rag.yaml"
    plain.write_text(json.dumps({"user": {"rag": PLAIN_RAG}}), encoding="utf-8")  # JSON is YAML
    rows, items = {}, {}
    runs = [(generator, STRATEGIES, None) for generator in GENERATORS]
    runs.append(("smollm2-135m-instruct", ("rag",), plain))
    for generator, strategies, prompts in runs:
        config = load_config(overrides=[f"models.generator={generator}", f"index.root={tmp / 'indexes'}"])
        output = tmp / f"{name}-{generator}{'-plain' if prompts else ''}"
        started = time.perf_counter()
        scores, _ = Workbench(config).evaluate(records, list(strategies), StrategyOptions(index=name, prompts=prompts),
                                    output=output)
        print(f"{name} {generator}{' plain' if prompts else ''}: {time.perf_counter() - started:.0f} s", flush=True)
        for score in scores:
            key = row_key(generator, score.strategy, plain=prompts is not None)
            predictions = [json.loads(line) for line in
                           Path(score.predictions).read_text(encoding="utf-8").splitlines() if line.strip()]
            rows[key] = {"generator": generator, "strategy": score.strategy, "prompt": "plain" if prompts else "default",
                         "questions": score.questions,
                         **{m: getattr(score, m) for m in METRICS}, "intervals": score.intervals,
                         "seconds_per_question": 1 / score.questions_per_second if score.questions_per_second else None,
                         "generation_seconds": score.generation_seconds, "retrieval_seconds": score.retrieval_seconds,
                         "tokens_in": score.tokens_in, "tokens_out": score.tokens_out,
                         "answer_in_sources": _mean([in_sources(p) for p in predictions]) if score.strategy == "rag" else None}
            items[key] = [{"id": p["id"], "prediction": p["prediction"], **{m: p[m] for m in METRICS},
                           **({"in_sources": in_sources(p)} if score.strategy == "rag" else {})} for p in predictions]
            print(f"  {key}: F1 {score.token_f1:.3f} contained {score.answer_contained:.3f} "
                  f"{rows[key]['seconds_per_question']:.2f} s/q", flush=True)
    return {"rows": rows, "items": items}


def row_key(generator: str, strategy: str, plain: bool = False) -> str:
    return f"{generator} {strategy}{' plain' if plain else ''}"


def in_sources(prediction: dict) -> int:
    """1 when a retrieved source holds a gold answer (case and whitespace ignored)."""
    norm = lambda text: " ".join(text.split()).lower()  # noqa: E731
    texts = [norm(s["text"]) for s in prediction["answer"]["sources"]]
    return int(any(norm(a) in t for a in prediction["reference"] for t in texts))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def paired_differences(results: dict) -> list[dict]:
    """Gemma minus SmolLM2 per data set and strategy, SmolLM2 plain minus default rag; per metric,
    Holm-corrected over that metric's comparisons."""
    import numpy as np

    from workbench.evaluation.statistics import (
        PairedComparison,
        detectable_difference,
        holm,
        mcnemar_p,
        mean_interval,
        paired_bootstrap_p,
    )

    smollm2, gemma = GENERATORS
    wanted = []
    for data in DATASETS:
        items = results[data].get("items")
        if not items:
            continue
        wanted += [(data, row_key(gemma, s), row_key(smollm2, s)) for s in STRATEGIES]
        wanted.append((data, row_key(smollm2, "rag", plain=True), row_key(smollm2, "rag")))
    out = []
    for metric in PAIRED_METRICS:
        raw = []
        for data, a, b in wanted:
            x, y = results[data]["items"][a], results[data]["items"][b]
            assert [i["id"] for i in x] == [i["id"] for i in y], "paired rows must hold the same items"
            xa, ya = np.array([i[metric] for i in x], dtype=float), np.array([i[metric] for i in y], dtype=float)
            d = xa - ya
            binary = metric == "answer_contained"
            p = mcnemar_p(xa, ya) if binary else paired_bootstrap_p(d)
            raw.append((data, a, b, d, "McNemar" if binary else "paired bootstrap", p))
        for (data, a, b, d, test, p), p_holm in zip(raw, holm([r[-1] for r in raw])):
            comparison = PairedComparison(a, b, metric, len(d), mean_interval(d), test, p, p_holm,
                                          detectable_difference(d))
            out.append({"data": data, **comparison.to_dict(),
                        "a_only": int(((d > 0)).sum()), "b_only": int(((d < 0)).sum())})
    return out


def settings_of() -> dict:
    from workbench.config import load_config

    config = load_config()
    return {"retrieval_k": config.retrieval.k, "hybrid": config.retrieval.hybrid,
            "max_new_tokens": config.generation.max_new_tokens, "do_sample": config.generation.do_sample,
            "batch_size": config.generation.batch_size, "chunk_size": config.chunking.chunk_size,
            "chunk_overlap": config.chunking.chunk_overlap, "splitter": config.chunking.splitter,
            "system_prompt": config.generation.system_prompt}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# ---------------------------------------------------------------- report

def _cell(row: dict, metric: str) -> str:
    low, high = row["intervals"][metric]
    return f"{row[metric]:.3f} [{low:.3f}, {high:.3f}]"


def results_table(data: dict) -> list[str]:
    lines = ["| generator | strategy | prompt | EM | token F1 | answer contained | sources hold an answer | "
             "s/question | prompt tokens | answer tokens |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in data["rows"].values():
        ceiling = f"{row['answer_in_sources']:.3f}" if row["answer_in_sources"] is not None else "-"
        lines.append(f"| {GENERATORS[row['generator']]} | {row['strategy']} | {row['prompt']} | "
                     f"{_cell(row, 'exact_match')} | {_cell(row, 'token_f1')} | {_cell(row, 'answer_contained')} | "
                     f"{ceiling} | {row['seconds_per_question']:.2f} | {row['tokens_in']:.0f} | {row['tokens_out']:.1f} |")
    return lines


def comparison_label(a: str, b: str) -> str:
    """'Gemma - SmolLM2, rag' or 'SmolLM2 rag: plain - default prompt'."""
    a_generator, a_rest = a.split(" ", 1)
    b_generator, b_rest = b.split(" ", 1)
    if a_generator != b_generator:
        return f"{SHORT[a_generator]} - {SHORT[b_generator]}, {a_rest}"
    return f"{SHORT[a_generator]} {b_rest}: plain - default prompt"


def paired_table(paired: list[dict]) -> list[str]:
    lines = ["| data | comparison (a - b) | metric | n | difference [95 % CI] | items a / b better | test | p | "
             "p (Holm) | detectable at n | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in paired:
        d = c["difference"]
        verdict = "**detected**" if c["significant"] else "not detected"
        lines.append(f"| {c['data']} | {comparison_label(c['a'], c['b'])} | {METRICS[c['metric']]} | {c['n']} | "
                     f"{d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] | {c['a_only']} / {c['b_only']} | "
                     f"{c['test']} | {c['p_value']:.4f} | {c['p_holm']:.4f} | {c['detectable']:.3f} | {verdict} |")
    return lines


def cost_table(cost: dict, results: dict) -> list[str]:
    lines = ["| generator | parameters (embedding) | weights on disk | cold load s | RSS added by the load "
             "(output-layer copy) | RSS added after answering 8 RAG prompts | peak process RSS answering | "
             "vocabulary | context window |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, c in cost.items():
        disk = f"{c['disk_mb']:.0f} MB" if c.get("disk_mb") else "?"
        lines.append(f"| {GENERATORS[name]} | {c['parameters'] / 1e6:.1f} M ({c['embedding_parameters'] / 1e6:.1f} M) | "
                     f"{disk} | {c['load_seconds']:.2f} | {c['loaded_mb']:.0f} MB ({c['output_layer_copy_mb']:.0f} MB) | "
                     f"{c['answered_mb']:.0f} MB | {c['peak_answering_mb']:.0f} MB | {c['vocabulary']:,} | "
                     f"{c['context_window']:,} |")
    lines += ["", "Seconds per question and mean prompt tokens per row (wall clock over the run, batch 8):", "",
              "| generator | " + " | ".join(f"{data} {s}" for data in DATASETS for s in STRATEGIES) + " |",
              "|---|" + "---|" * (len(DATASETS) * len(STRATEGIES))]
    for name in cost:
        cells = []
        for data in DATASETS:
            for strategy in STRATEGIES:
                row = results[data].get("rows", {}).get(row_key(name, strategy))
                cells.append(f"{row['seconds_per_question']:.2f} s, {row['tokens_in']:.0f} tok" if row else "-")
        lines.append(f"| {GENERATORS[name]} | " + " | ".join(cells) + " |")
    return lines


def examples(results: dict, n: int = 8) -> list[str]:
    """The first `n` manual questions where the two generators' RAG answers differ."""
    data = results["manuals"]
    if "items" not in data:
        return []
    smollm2, gemma = (data["items"][row_key(g, "rag")] for g in GENERATORS)
    lines = ["| id | SmolLM2 rag | Gemma rag | sources hold an answer |", "|---|---|---|---|"]
    shown = 0
    for a, b in zip(smollm2, gemma):
        if a["prediction"] != b["prediction"] and shown < n:
            cell = lambda i: f"{i['prediction'][:90].replace('|', '/')}{' ✓' if i['answer_contained'] else ''}"  # noqa: E731
            lines.append(f"| {a['id']} | {cell(a)} | {cell(b)} | {'yes' if a['in_sources'] else 'no'} |")
            shown += 1
    return lines


def _row(results: dict, data: str, generator: str, strategy: str, plain: bool = False) -> dict | None:
    return results.get(data, {}).get("rows", {}).get(row_key(generator, strategy, plain))


def _pair(results: dict, data: str, a: str, b: str, metric: str) -> dict | None:
    return next((c for c in results["paired"] if c["data"] == data and c["a"] == a and c["b"] == b
                 and c["metric"] == metric), None)


def detectability(results: dict) -> list[str]:
    """In words: which paired differences the tests detect, and which they cannot tell from zero."""
    def say(c: dict) -> str:
        d = c["difference"]
        return (f"{c['data']} {comparison_label(c['a'], c['b'])} on {METRICS[c['metric']]} "
                f"{d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")

    detected = [c for c in results["paired"] if c["significant"]]
    undetected = [c for c in results["paired"] if not c["significant"]]
    lines = [("Detected after Holm's correction: " + "; ".join(map(say, detected)) + ".") if detected
             else "No difference is detected after Holm's correction."]
    if undetected:
        lines += ["", "Not detected (the data cannot tell these from zero; in brackets the smallest difference "
                  "this n would find 80 % of the time): " + "; ".join(
                      f"{say(c)} (detectable: {c['detectable']:.3f})" for c in undetected) + "."]
    return lines


def report(results: dict) -> str:
    settings, cost = results["settings"], results["cost"]
    smollm2, gemma = GENERATORS
    squad, manuals = results["squad"], results["manuals"]
    lines = [
        "# Readers: SmolLM2-135M-Instruct vs Gemma 3 270M, zero-shot and with RAG",
        "",
        f"Produced by `bench/readers.py` on {results['date']} in {results['minutes']:.0f} min (2 CPU cores, "
        f"{results['torch_threads']} torch threads, float32; load average {results['load_average_start']:.2f} at the "
        f"start, {results['load_average_end']:.2f} at the end). Rerun: `.venv/bin/python bench/readers.py` "
        "(`--report-only` rewrites this file from readers.json).",
        "",
        "- Generators: the two embedded ones, each dequantized from its shipped GGUF to float32 safetensors. "
        "`smollm2-135m-instruct` (SmolLM2-135M-Instruct, a chat model, prompted in its chat template) and "
        "`gemma-3-270m` (Gemma 3 270M *base*, prompted with workbench's completion template: system prompt, the "
        "user message, then `Answer:`; workbench/models/prompt_format.py). Selected with "
        "`load_config(overrides=[\"models.generator=NAME\", ...])`, everything else default.",
        f"- Settings (configs/default.yaml): retrieval.k {settings['retrieval_k']}, hybrid "
        f"{str(settings['hybrid']).lower()} (BM25 + all-MiniLM-L6-v2 fused by reciprocal rank); chunking "
        f"{settings['splitter']} {settings['chunk_size']} characters, overlap {settings['chunk_overlap']}; greedy "
        f"decoding, max_new_tokens {settings['max_new_tokens']}, batch {settings['batch_size']}; short answers stop "
        "at the first line and are cleaned up (prompts.yaml `postprocess`); default system prompt and "
        "templates (rag: `Sources: [n] chunk ... Answer the question with a short phrase from the sources "
        "above. Question: ...`). Scored by `Workbench.evaluate` (workbench/evaluation/metrics.py): EM, token F1 "
        "and answer contained (a gold answer appears in the cleaned answer), each with its 95 % bootstrap "
        "interval.",
        "- Plain prompt row (SmolLM2 only): `--prompts` file with user.rag = "
        "`Context:\\n{sources}\\n\\nQuestion: {question}\\nShort answer:`.",
        "- \"sources hold an answer\": share of questions whose 3 retrieved chunks contain a gold answer "
        "(identical for every generator: same index, same k). It is the ceiling of what a reader can copy.",
        "- s/question: wall clock over the whole row (retrieval and batching included) / questions.",
        "",
    ]
    if "skipped" in squad:
        lines += [f"## {DATASETS['squad']}", "", f"Skipped: {squad['skipped']}.", ""]
    else:
        s = squad["setup"]
        lines += [f"## {DATASETS['squad']}", "",
                  f"All {s['paragraphs']} paragraphs indexed ({s['chunks']} chunks, {s['index_seconds']:.0f} s); "
                  f"{s['questions']} of the {s['qa_pairs']} questions sampled with seed {results['seed']}, the same "
                  "for every row.", "", *results_table(squad), ""]
    m = manuals["setup"]
    lines += [f"## {DATASETS['manuals']}", "",
              f"{', '.join(m['files'])} (bench/documents.py; {m['documents']} documents, {m['chunks']} chunks, "
              f"{m['index_seconds']:.0f} s to index with `Workbench.index`); the {m['questions']} hand-written "
              "questions of bench/data/manuals/questions.jsonl.", "", *results_table(manuals), ""]
    lines += ["## Paired differences (same items)", "",
              "Mean per-item difference a - b with its 95 % bootstrap interval; token F1 tested with workbench's "
              "paired bootstrap (`paired_bootstrap_p`), answer contained (0/1) with McNemar's exact test "
              "(`mcnemar_p`); p-values Holm-corrected over the comparisons of each metric (`holm`). \"items a / b "
              "better\": how many items each side scores higher on. \"detectable at n\": the smallest true difference "
              "this many items and this spread find 80 % of the time (`detectable_difference`).", "",
              *paired_table(results["paired"]), "", *detectability(results), ""]
    lines += ["## Cost", "",
              f"Cold load: a fresh process per round ({len(next(iter(cost.values()))['rounds'])} rounds, alternating "
              "the models, medians; the weights are in the page cache after the first round). RSS added by load: "
              "resident memory after `workbench.models.load_generator(name)` minus before it (torch and "
              "transformers already imported; the output-layer copy is the frozen oneDNN copy of the tied "
              "output layer that workbench makes on the CPU, `fast_output_layer`). After answering: the same "
              "difference once the process has answered one batch of 8 prompts of about "
              f"{next(iter(cost.values()))['batch_prompt_tokens']:.0f} tokens (16 new tokens); peak: the process's "
              "maximum RSS (torch and transformers included). Parameters: unique tensors (the tied input and "
              "output embeddings counted once).",
              "", *cost_table(cost, results), ""]
    example_lines = examples(results)
    if example_lines:
        lines += ["## Examples: manual questions where the RAG answers differ", "",
                  "The first eight, as cleaned (✓: contains a gold answer).", "", *example_lines, ""]
    lines += ["## Conclusion", "", *verdict(results)]
    return "\n".join(lines)


def verdict(results: dict) -> list[str]:
    """The closing paragraph, written from the numbers: which reader should be the default and its cost."""
    smollm2, gemma = GENERATORS
    better, worse, facts = [], [], []
    for data in DATASETS:
        g, m = _row(results, data, gemma, "rag"), _row(results, data, smollm2, "rag")
        if not (g and m):
            continue
        tests = {metric: _pair(results, data, row_key(gemma, "rag"), row_key(smollm2, "rag"), metric)
                 for metric in PAIRED_METRICS}
        status = ", ".join(f"{METRICS[k]} {t['difference']['value']:+.3f} "
                           f"{'detected' if t['significant'] else 'not detected'}" for k, t in tests.items())
        facts.append(f"{data}: Gemma F1 {g['token_f1']:.3f} / contained {g['answer_contained']:.3f} vs SmolLM2 "
                     f"{m['token_f1']:.3f} / {m['answer_contained']:.3f} ({status}; sources hold an answer "
                     f"for {g['answer_in_sources']:.0%})")
        for t in tests.values():
            if t["significant"]:
                (better if t["difference"]["value"] > 0 else worse).append(data)
    zero = [f"{data} {SHORT[name]} F1 {r['token_f1']:.3f}" for data in DATASETS for name in GENERATORS
            if (r := _row(results, data, name, "zero-shot"))]
    plain = [c for c in results["paired"] if c["a"].endswith(" plain")]
    plain_detected = [c for c in plain if c["significant"]]
    c = results["cost"]
    speed = [f"{data} {g['seconds_per_question']:.2f} vs {m['seconds_per_question']:.2f} s/question "
             f"({g['seconds_per_question'] / m['seconds_per_question']:.1f}x)"
             for data in DATASETS if (g := _row(results, data, gemma, "rag")) and (m := _row(results, data, smollm2, "rag"))]
    if better and not worse:
        pick = (f"Gemma 3 270M reads documents better: its RAG answers are detectably better on "
                f"{', '.join(sorted(set(better)))} and detectably worse nowhere, so it should be workbench's default "
                "reader for RAG.")
    elif worse and not better:
        pick = (f"SmolLM2-135M-Instruct reads documents better: Gemma's RAG answers are detectably worse on "
                f"{', '.join(sorted(set(worse)))}, so SmolLM2 should stay the default reader.")
    elif better and worse:
        pick = "The data sets disagree (each generator wins one), so neither is a clear default reader."
    else:
        pick = ("No RAG difference is detectable, so the cheaper SmolLM2-135M-Instruct should stay the default "
                "reader.")
    cost = (f"What Gemma costs: {c[gemma]['parameters'] / 1e6:.0f} M parameters against "
            f"{c[smollm2]['parameters'] / 1e6:.0f} M ({c[gemma]['embedding_parameters'] / 1e6:.0f} M of them its "
            f"262k-token embedding), {c[gemma]['answered_mb']:.0f} MB of resident memory added by loading it and "
            f"answering a batch of 8 RAG prompts against {c[smollm2]['answered_mb']:.0f} MB (of Gemma's, "
            f"{c[gemma]['output_layer_copy_mb']:.0f} MB is the CPU's oneDNN copy of its tied output layer), a cold load of {c[gemma]['load_seconds']:.1f} s against "
            f"{c[smollm2]['load_seconds']:.1f} s, and per RAG question {'; '.join(speed)}.")
    plain_text = ("The plain RAG prompt changes SmolLM2 detectably: " + "; ".join(
        f"{p['data']} {METRICS[p['metric']]} {p['difference']['value']:+.3f}" for p in plain_detected) + "."
        if plain_detected else
        "The plain RAG prompt does not change SmolLM2 detectably (" + "; ".join(
            f"{p['data']} {METRICS[p['metric']]} {p['difference']['value']:+.3f}" for p in plain) +
        "), so workbench's default template is not what holds SmolLM2 back.")
    zero_text = (f"Zero-shot, neither model knows the answers ({'; '.join(zero)})." if all(
        r["token_f1"] < 0.1 for data in DATASETS for name in GENERATORS if (r := _row(results, data, name, "zero-shot")))
        else f"Zero-shot token F1: {'; '.join(zero)}.")
    return [f"{pick} {cost} {plain_text} {zero_text}",
            "", "RAG rows in short: " + "; ".join(facts) + "."]


if __name__ == "__main__":
    sys.exit(main())
