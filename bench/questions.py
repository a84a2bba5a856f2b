"""How far a test set written from the documents can be trusted, and how fast it is written.

Questions are generated (`wb questions generate`) from the SQuAD v1.1 articles in ../shared/data, and
the same strategies answer them and an equal sample of SQuAD's human questions on the same articles:
zero-shot, few-shot, RAG (top 3, hybrid) and a generator finetuned on the articles themselves
(continued pretraining, `--format documents`, LoRA, one epoch). For each set every pair of strategies is
compared item by item (paired bootstrap on token F1 and on "answer contained", Holm-corrected), and the
verdicts are set side by side: where the generated questions lead to the same decision as human ones,
and where not. That table is what a study of your own documents can be trusted for.

Throughput: questions a minute on this machine's 2 cores, for each embedded generator writing the
same number of questions from the same index (closed-book check off, so that only writing is timed).

    .venv/bin/python bench/questions.py [--n 150] [--model gemma-3-270m] [--throughput-n 30]

Writes bench/results/questions.md and .json (`--report-only` rewrites the .md from the .json, e.g. after
its "conclusion" is written). Takes about an hour on 2 CPU cores. Run it on a quiet
machine (`uptime`): nothing else CPU-heavy at the same time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.config import load_config  # noqa: E402
from workbench.corpus import load_squad  # noqa: E402
from workbench.evaluation.statistics import compare_pairs  # noqa: E402
from workbench.ondisk import write_jsonl  # noqa: E402
from workbench.requests import GeneratorRequest, QuestionsRequest  # noqa: E402
from workbench.session import Workbench  # noqa: E402
from workbench.strategies import StrategyOptions  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad-v1.1-dev-articles-00-11.json"
RESULTS = ROOT / "bench" / "results"
STRATEGIES = ("zero-shot", "few-shot", "rag", "finetuned")
METRICS = {"token_f1": False, "answer_contained": True}  # metric -> 0/1 per item (McNemar) or graded (bootstrap)


def human_questions(n: int, seed: int) -> list[dict]:
    corpus = load_squad(SQUAD)
    pairs = random.Random(seed).sample(corpus.qa_pairs, n)
    return [{"id": p.id, "question": p.question, "answers": list(p.answers), "context": p.context, "doc_id": p.doc_id}
            for p in pairs]


def per_item(predictions: str, metric: str) -> list[float]:
    rows = [json.loads(line) for line in Path(predictions).read_text().splitlines() if line]
    return [float(row[metric]) for row in rows]


def evaluate_set(config, data: Path, index: str, adapter: Path, output: Path) -> dict:
    """Every strategy on one question file: per-metric mean with its interval, and the paired comparisons."""
    scores, _ = Workbench(config).evaluate(data, ["zero-shot", "few-shot", "rag", "finetuned"],
                                StrategyOptions(index=index, adapters=(f"documents={adapter}",)), output=output)
    result = {"scores": {s.strategy: {"token_f1": [s.token_f1, *s.intervals["token_f1"]],
                                      "answer_contained": [s.answer_contained, *s.intervals["answer_contained"]],
                                      "seconds_per_question": s.generation_seconds + s.retrieval_seconds}
                         for s in scores},
              "comparisons": {}}
    for metric, binary in METRICS.items():
        items = {s.strategy: per_item(s.predictions, metric) for s in scores}
        result["comparisons"][metric] = [c.to_dict() for c in compare_pairs(items, metric, binary)]
    return result


def verdict(comparison: dict) -> str:
    if not comparison["significant"]:
        return "none"
    return ">" if comparison["difference"]["value"] > 0 else "<"


def agreement_rows(generated: dict, human: dict, metric: str) -> list[dict]:
    rows = []
    for g, h in zip(generated["comparisons"][metric], human["comparisons"][metric]):
        assert (g["a"], g["b"]) == (h["a"], h["b"])
        vg, vh = verdict(g), verdict(h)
        same_sign = np.sign(g["difference"]["value"]) == np.sign(h["difference"]["value"])
        agree = "agree" if vg == vh else ("opposite" if {vg, vh} == {">", "<"} else "one detects it")
        rows.append({"pair": f"{g['a']} − {g['b']}", "generated": g["difference"], "generated_verdict": vg,
                     "human": h["difference"], "human_verdict": vh, "same_sign": bool(same_sign), "agreement": agree,
                     "detectable_generated": g["detectable"], "detectable_human": h["detectable"]})
    return rows


def throughput(config, index: str, models: list[str], n: int, folder: Path) -> list[dict]:
    rows = []
    for model in models:
        started = time.perf_counter()
        records, report = Workbench(config).questions(QuestionsRequest(
            index=index, output=folder / f"throughput-{model}.jsonl", n=n, model=model, closed_book=False))
        seconds = time.perf_counter() - started
        rows.append({"model": model, "asked": n, "kept": report.kept, "seconds": round(seconds, 1),
                     "questions_per_minute": round(60 * report.kept / seconds, 2),
                     "written": sum(report.filters["is_question"].values()),
                     "kept_share": round(report.kept / max(1, sum(report.filters["is_question"].values())), 3),
                     "shares": report.shares, "filters": report.filters})
    return rows


QUESTION_FIRST_DEMOS = [  # the same three facts as configs/prompts.yaml's demonstrations, question first
    ("Backup tool manual", "Older snapshots are deleted at 03:00 each night unless the --keep-all flag is given.",
     "Which flag keeps the backup tool from deleting older snapshots?", "--keep-all"),
    ("City water supply", "The Dunmore reservoir was completed in 1932 and holds about 45 million cubic metres of water.",
     "When was the Dunmore reservoir completed?", "1932"),
    ("Garden birds", "The robin defends its territory all year round, and both sexes sing in winter.",
     "Which robins sing in winter?", "both sexes"),
]


def design_comparison(config, index_name: str, models: list[str], passages: int, seed: int = 0) -> list[dict]:
    """Answer first (workbench's design) against question first (the model writes a question and its
    answer), on the same passages: how many give a usable item (a question, its answer verbatim in the
    passage and not in the question, about the passage), and how many of those the writing model itself
    answers from the passage (the round trip)."""
    from workbench.evaluation.metrics import answer_contained
    from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
    from workbench.indexing import open_index
    from workbench.models import load_generator
    from workbench.models.prompt_format import prompt_format
    from workbench.questions.generate import (
        Planned,
        contains_answer,
        grounded,
        is_question,
        parse_question,
        passage,
        question_prompt,
    )
    from workbench.questions.spans import candidate_spans

    templates = load_prompts()
    index = open_index(index_name, config.index.root)
    chunks = random.Random(seed).sample(index.chunks(), passages)
    rows = []
    for model in models:
        generator = load_generator(model)
        short = GenerationEngine(generator, GenerationSettings(max_new_tokens=48, first_line_only=True))
        long = GenerationEngine(generator, GenerationSettings(max_new_tokens=72))
        completion = prompt_format(model, generator.tokenizer) == "completion"
        items = {"answer first": [], "question first": []}
        started = time.perf_counter()
        planned = []
        for chunk_id, chunk in chunks:
            spans = candidate_spans(chunk.text)
            if spans:
                planned.append(Planned(chunk.doc_id, str(chunk.metadata.get("title", chunk.doc_id)), chunk_id, chunk, spans[0]))
        outputs = short.generate([question_prompt(short, templates.questions, p) for p in planned])
        for p, out in zip(planned, outputs):
            items["answer first"].append((p.chunk.text, parse_question(out.text), p.span.text))
        answer_first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        prompts = []
        for _, chunk in chunks:
            text = passage(chunk.text, candidate_spans(chunk.text)[0]) if candidate_spans(chunk.text) else chunk.text[:400]
            title = str(chunk.metadata.get("title", chunk.doc_id))
            if completion:
                blocks = "".join(f"Document: {t}\nPassage: {x}\nQuestion: {q}\nAnswer: {a}\n\n" for t, x, q, a in QUESTION_FIRST_DEMOS)
                prompts.append(long.encode((generator.tokenizer.bos_token or "") + blocks
                                           + f"Document: {title}\nPassage: {text}\nQuestion:"))
            else:
                messages = [{"role": "system", "content": "You write one short question about a passage and its answer, "
                             "copied word for word from the passage. Reply as: Question: ...\nAnswer: ..."}]
                for t, x, q, a in QUESTION_FIRST_DEMOS:
                    messages += [{"role": "user", "content": f"Document: {t}\nPassage: {x}"},
                                 {"role": "assistant", "content": f"Question: {q}\nAnswer: {a}"}]
                messages.append({"role": "user", "content": f"Document: {title}\nPassage: {text}"})
                prompts.append(long.encode(long.render(messages)))
        for (_, chunk), out in zip(chunks, long.generate(prompts)):
            raw = ("Question:" + out.text) if completion else out.text
            question = re.search(r"Question:\s*(.+)", raw)
            answer = re.search(r"Answer:\s*(.+)", raw)
            items["question first"].append((chunk.text, question.group(1).strip() if question else "",
                                            answer.group(1).strip().rstrip(".") if answer else ""))
        question_first_seconds = time.perf_counter() - started
        for design, found in items.items():
            usable = [(text, q, a) for text, q, a in found
                      if is_question(q) and a and a.lower() in text.lower() and not contains_answer(q, a) and grounded(q, text, a)]
            replies = short.generate([short.encode(short.render(templates.messages(
                "rag", q, config.generation.system_prompt, sources=[("passage", text)]))) for text, q, a in usable])
            consistent = sum(answer_contained(r.text, [a]) for (text, q, a), r in zip(usable, replies))
            seconds = answer_first_seconds if design == "answer first" else question_first_seconds
            rows.append({"model": model, "design": design, "passages": len(chunks), "written": len(found),
                         "usable": len(usable), "round_trip": int(consistent),
                         "seconds_per_passage": round(seconds / max(1, len(found)), 2),
                         "examples": [{"question": q, "answer": a} for _, q, a in usable[:3]]})
    return rows


def examples(generated: Path, n: int = 12) -> list[dict]:
    """The first generated questions as written, with what the writing model answers given their chunk."""
    rows = [json.loads(line) for line in generated.read_text().splitlines()[:n]]
    return [{"document": r["doc_id"], "question": r["question"], "answer": r["answers"][0], "kind": r["answer_kind"],
             "answered_with_chunk": r["answered_with_chunk"]} for r in rows]


def cached(work: Path, name: str, compute):
    """A part of the result, computed once per work folder (a rerun after a crash redoes only what is missing)."""
    path = work / f"part-{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.write_text(json.dumps(value, default=str))
    return json.loads(path.read_text())


def fmt(interval: dict | list) -> str:
    if isinstance(interval, dict):
        return f"{interval['value']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}]"
    return f"{interval[0]:.3f} [{interval[1]:.3f}, {interval[2]:.3f}]"


def write_report(result: dict, results: Path) -> None:
    lines = [
        "# Generated questions against human ones (SQuAD), and how fast they are written",
        "",
        f"{result['date']}, 2 CPU cores (load average {result['load']} at the start). Produced by "
        "`bench/questions.py`; rerun with `.venv/bin/python bench/questions.py`.",
        "",
        f"Data: the {result['articles']} SQuAD v1.1 development articles of `../shared/data` ({result['paragraphs']} "
        f"paragraphs, indexed as they are). **Generated**: {result['generated']['kept']} questions written by "
        f"`{result['model']}` with `wb questions generate --n {result['n']}` (seed 0). **Human**: {result['n']} SQuAD "
        "questions on the same articles, a seeded sample. Both are answered by the same strategies with "
        f"`{result['model']}` as the reader: zero-shot, few-shot (3 demonstrations from the demo corpus), RAG (top 3, "
        "hybrid), and `finetuned[documents]`, a LoRA trained one epoch on the articles' paragraphs "
        "(continued pretraining) and asked closed-book.",
        "",
        "## The generated set",
        "",
        f"Kept {result['generated']['kept']} of {result['n']} asked; of the kept, "
        f"{result['generated']['shares']['retrieves_own_chunk']:.0%} retrieve their own chunk in the top 3, "
        f"{result['generated']['shares']['answered_with_chunk']:.0%} are answered with the picked answer by the writing model "
        f"given the chunk, {result['generated']['shares']['answered_closed_book']:.0%} by the base model closed-book "
        f"(human questions: {result['human_closed_book']:.0%} closed-book). Checks (passed / failed):",
        "",
        "| check | passed | failed |",
        "|---|---|---|",
        *(f"| {name} | {c['passed']} | {c['failed']} |" for name, c in result["generated"]["filters"].items()),
        "",
        "## Scores",
        "",
        "| strategy | token F1, generated | token F1, human | contained, generated | contained, human |",
        "|---|---|---|---|---|",
    ]
    gen, hum = result["on_generated"]["scores"], result["on_human"]["scores"]
    for name in gen:
        lines.append(f"| {name} | {fmt(gen[name]['token_f1'])} | {fmt(hum[name]['token_f1'])} | "
                     f"{fmt(gen[name]['answer_contained'])} | {fmt(hum[name]['answer_contained'])} |")
    for metric in METRICS:
        rows = result["agreement"][metric]
        lines += ["", f"## Paired verdicts, {metric.replace('_', ' ')}", "",
                  "Mean difference (row strategy minus the other) with its 95 % interval; verdict after Holm's "
                  "correction: `>` or `<` where detectable, `none` where not.", "",
                  "| pair | generated | verdict | human | verdict | same sign | agreement |",
                  "|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(f"| {row['pair']} | {fmt(row['generated'])} | {row['generated_verdict']} | {fmt(row['human'])} | "
                         f"{row['human_verdict']} | {'yes' if row['same_sign'] else 'no'} | {row['agreement']} |")
        agree = sum(r["agreement"] == "agree" for r in rows)
        lines += ["", f"{agree} of {len(rows)} verdicts agree; same sign in {sum(r['same_sign'] for r in rows)} of "
                      f"{len(rows)}; opposite verdicts: {sum(r['agreement'] == 'opposite' for r in rows)}."]
    lines += ["", "## Throughput (questions a minute, 2 CPU cores)", "",
              f"Each model writes {result['throughput'][0]['asked']} questions from the same SQuAD index, closed-book "
              "check off; seconds include loading the model.", "",
              "| model | kept | seconds | questions a minute | written | kept of written | retrieve own chunk | answered with chunk |",
              "|---|---|---|---|---|---|---|---|"]
    for row in result["throughput"]:
        lines.append(f"| {row['model']} | {row['kept']} of {row['asked']} | {row['seconds']} | {row['questions_per_minute']} | "
                     f"{row['written']} | {row['kept_share']:.0%} | {row['shares']['retrieves_own_chunk']:.0%} | "
                     f"{row['shares']['answered_with_chunk']:.0%} |")
    lines += ["", "## Answer first or question first", "",
              f"The same {result['design'][0]['passages']} passages of the SQuAD index, one item each. Usable: a question "
              "(ends with ?, 3 to 40 words) whose answer occurs verbatim in the passage, is not in the question, and "
              "which asks about the passage (two of its content words occur in it). Round trip: the writing model, "
              "given the passage, answers its own question with that answer.", "",
              "| model | design | usable | round trip (of usable) | s a passage |", "|---|---|---|---|---|"]
    for row in result["design"]:
        lines.append(f"| {row['model']} | {row['design']} | {row['usable']} of {row['written']} | {row['round_trip']} | "
                     f"{row['seconds_per_passage']} |")
    lines += ["", "## Examples", "", "The first generated questions, as kept (round trip: the writing model, given "
              "the chunk, answers with the picked answer).", "",
              "| document | question | answer (kind) | round trip |", "|---|---|---|---|"]
    for row in result["examples"]:
        lines.append(f"| {row['document']} | {row['question']} | {row['answer']} ({row['kind']}) | "
                     f"{'yes' if row['answered_with_chunk'] else 'no'} |")
    lines += ["", "## What this says", "", result.get("conclusion", "(see the closing note)"), ""]
    (results / "questions.md").write_text("\n".join(lines), encoding="utf-8")
    (results / "questions.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--model", default=None, help="the writing model and reader (default: models.generator)")
    parser.add_argument("--throughput-n", type=int, default=30)
    parser.add_argument("--throughput-models", default="smollm2-135m-instruct,gemma-3-270m")
    parser.add_argument("--design-passages", type=int, default=40)
    parser.add_argument("--work", type=Path, default=None, help="keep the index, runs and predictions here")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite questions.md from questions.json (after editing its conclusion)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few items and training steps, to check the script; the report stays in the work folder")
    args = parser.parse_args()
    if args.report_only:
        write_report(json.loads((RESULTS / "questions.json").read_text()), RESULTS)
        return
    if args.smoke:
        args.n, args.throughput_n, args.design_passages = 6, 3, 4
    if not SQUAD.is_file():
        sys.exit(f"needs {SQUAD} (the shared data sets)")
    import os

    work = args.work or Path(tempfile.mkdtemp(prefix="wb-questions-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = load_config(overrides=[f"index.root={work / 'indexes'}", f"training.output_root={work / 'runs'}",
                                    *(["training.max_steps=3"] if args.smoke else [])])
    results = work if args.smoke else RESULTS
    if args.model:
        config = config.updated({"models.generator": args.model})
    model = config.models.generator
    result = {"date": time.strftime("%Y-%m-%d"), "load": round(os.getloadavg()[0], 2), "model": model, "n": args.n}

    corpus = load_squad(SQUAD)
    result["articles"], result["paragraphs"] = len({d.metadata["title"] for d in corpus.documents}), len(corpus.documents)
    if not (work / "indexes" / "squad").exists():
        from workbench.indexing import build_index

        build_index("squad", corpus.documents, config=config)

    generated_file = work / "generated.jsonl"
    if not generated_file.exists():
        _, report = Workbench(config).questions(QuestionsRequest(index="squad", output=generated_file, n=args.n))
    report = json.loads((work / "generated.jsonl.report.json").read_text())
    result["generated"] = {"kept": report["kept"], "shares": report["shares"], "filters": report["filters"],
                           "seconds": report["seconds"], "shortfall": report["shortfall"]}
    result["examples"] = examples(generated_file)
    human_file = work / "human.jsonl"
    write_jsonl(human_file, human_questions(args.n, seed=0))

    adapter = work / "runs" / "documents"
    if not (adapter / "COMPLETE").exists():
        quick = config.updated({"training.generator.eval_generate": 0, "training.forgetting_items": 0})
        Workbench(quick).train(GeneratorRequest(format="documents", index="squad", output=adapter,
                                                        resume=adapter.exists()))
    result["on_generated"] = cached(work, "generated", lambda: evaluate_set(config, generated_file, "squad", adapter,
                                                                             work / "eval-generated"))
    result["on_human"] = cached(work, "human", lambda: evaluate_set(config, human_file, "squad", adapter,
                                                                     work / "eval-human"))
    result["human_closed_book"] = result["on_human"]["scores"]["zero-shot"]["answer_contained"][0]
    result["agreement"] = {metric: agreement_rows(result["on_generated"], result["on_human"], metric) for metric in METRICS}
    models = args.throughput_models.split(",")
    result["throughput"] = cached(work, "throughput", lambda: throughput(config, "squad", models, args.throughput_n, work))
    result["design"] = cached(work, "design", lambda: design_comparison(config, "squad", models, args.design_passages))
    write_report(result, results)
    print((results / "questions.md").read_text())


if __name__ == "__main__":
    main()
