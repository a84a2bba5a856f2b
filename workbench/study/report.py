"""The study's report, for a domain expert: which strategy answers best on these documents, by how much
and how surely, what each costs, what happens when a document changes, what the same study would cost
on a 7B model and a GPU, and how far the generated questions can be trusted. study.md, study.json and
study.png in the study's folder; each design's full experiment report in its own folder."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from workbench.evaluation.statistics import compare_pairs
from workbench.figures import figure_png
from workbench.ondisk import write_atomic, write_json

if TYPE_CHECKING:
    from workbench.study.run import DesignOutcome, StudyOutcome

METRIC = "token_f1"  # the primary QA metric; answer_contained (the gold answer appears in the reply) beside it
DESIGNS = {"knowledge": "the test questions are held out, the documents are not: can finetuning put the facts "
                        "in the weights?",
           "reading": "whole documents are held out: does finetuning on retrieved context teach the model to use "
                      "what it retrieves? (Closed-book strategies cannot know these documents: a control.)"}
RETRIEVING = ("rag", "rag+")
# bench/results/questions.md: the same six paired verdicts on 150 generated and 150 human questions
QUESTION_AGREEMENT = ("On SQuAD articles, verdicts measured on generated questions kept the sign of 5 of 6 measured "
                      "on human questions, but were much weaker evidence: RAG's lead over closed-book strategies, "
                      "+0.18 to +0.20 F1 on human questions, was +0.02 to +0.03 on generated ones "
                      "(bench/results/questions.md).")


def write_study(outcome: StudyOutcome) -> None:
    data = study_data(outcome)
    write_json(outcome.folder / "study.json", data)
    ran = [d for d in outcome.designs if d.results]
    if ran:
        write_atomic(outcome.folder / "study.png", _plot(outcome))
    write_atomic(outcome.folder / "study.md", markdown(outcome, data))


def study_data(outcome: StudyOutcome) -> dict[str, Any]:
    return {"folder": str(outcome.source), "index": outcome.index, "reindexed": outcome.reindexed,
            "questions": str(outcome.questions), "question_report": _trust(outcome.question_report),
            "model": outcome.config.models.generator,
            "designs": [_design_data(d) for d in outcome.designs],
            "projection": _projection(outcome), "verdict": verdict(outcome)}


def _design_data(design: DesignOutcome) -> dict[str, Any]:
    if design.error:
        return {"design": design.design, "error": design.error.describe()}
    scored = {r.label: r.evaluation.scores(METRIC) for r in design.results if r.evaluation.rows}
    pairs = compare_pairs(scored, METRIC, False) if len(scored) > 1 else []
    zero = next((r for r in design.results if r.label == "zero-shot" and r.evaluation.rows), None)
    return {
        "design": design.design, "question": DESIGNS[design.design], "results": str(design.folder),
        "train": len(design.work.data.train), "test": len(design.work.data.test),
        "strategies": [_row(r) for r in design.results],
        "comparisons": [p.to_dict() for p in pairs],
        "detectable": _median([p.detectable for p in pairs if _best(design) in (p.a, p.b)]),
        "retrieval": design.retrieval,
        "known_closed_book": None if zero is None else sum(row["answer_contained"] for row in zero.evaluation.rows),
        "changed": _changed(design.changed),
        "human": _human(design),
    }


def _best(design: DesignOutcome) -> str | None:
    """The label of the strategy with the highest primary metric (what the verdict is about)."""
    ran = [r for r in design.results if r.evaluation.rows]
    return max(ran, key=lambda r: r.evaluation.summary[METRIC].value).label if ran else None


def _row(result) -> dict[str, Any]:
    row: dict[str, Any] = {"strategy": result.label, "n": len(result.evaluation.rows),
                           "error": result.error.describe() if result.error else None}
    for name, interval in result.evaluation.summary.items():
        row[name] = {"value": interval.value, "low": interval.low, "high": interval.high}
    return {**row, **result.costs}


def _changed(changed: dict | None) -> dict | None:
    if changed is None:
        return None
    return {"edits": changed["edits"], "index": changed.get("index"),
            "strategies": {label: {"new": int(sum(row["answer_contained"] for row in e.rows)), "n": len(e.rows),
                                   "old": changed["old_answers"][label]}
                           for label, e in changed["strategies"].items()}}


def _human(design: DesignOutcome) -> dict | None:
    """The same strategies on questions people wrote: their scores and whether each paired verdict agrees
    in sign with the one on generated questions."""
    if not design.human:
        return None
    scores = {label: e.scores(METRIC) for label, e in design.human.items()}
    human_pairs = {(p.a, p.b): p for p in compare_pairs(scores, METRIC, False)} if len(scores) > 1 else {}
    generated = {r.label: r.evaluation.scores(METRIC) for r in design.results if r.label in scores}
    agree = []
    for (a, b), p in human_pairs.items():
        g = sum(generated[a]) / len(generated[a]) - sum(generated[b]) / len(generated[b])
        agree.append({"a": a, "b": b, "generated": g, "human": p.difference.value, "human_verdict": p.verdict(),
                      "same_sign": (g > 0) == (p.difference.value > 0) or (g == 0 == p.difference.value)})
    return {"n": len(next(iter(design.human.values())).rows),
            "strategies": {label: {METRIC: e.summary[METRIC].value, "low": e.summary[METRIC].low,
                                   "high": e.summary[METRIC].high,
                                   "answer_contained": e.summary["answer_contained"].value}
                           for label, e in design.human.items()},
            "pairs": agree, "agreeing": sum(p["same_sign"] for p in agree)}


def _trust(report: dict | None) -> dict | None:
    if not report:
        return None
    return {"requested": report["requested"], "kept": report["kept"], "model": report["model"],
            "rejected_by": {name: c["failed"] for name, c in report["filters"].items() if c["failed"]},
            **report["shares"]}


def _median(values: list[float]) -> float | None:
    finite = sorted(v for v in values if math.isfinite(v))
    return finite[len(finite) // 2] if finite else None


def _projection(outcome: StudyOutcome) -> dict | None:
    """The estimator's view of the same study on `study.projection_model` and a GPU: training time and
    cost for the documents and questions learnt here, serving cost per query, and the advice with the
    quality measured in the knowledge design."""
    from workbench.estimate.advisor import Corpus, advise
    from workbench.estimate.estimator import CHARS_PER_TOKEN, Setting, estimate

    study, config = outcome.config.study, outcome.config
    knowledge = next((d for d in outcome.designs if d.design == "knowledge" and d.results), None)
    corpus = Corpus.from_index(config, outcome.index["name"])
    questions = len(knowledge.work.data.train) if knowledge else 0
    tokens = max(1, corpus.tokens + questions * 48 // CHARS_PER_TOKEN)
    projected = config.updated({"estimate.model": study.projection_model, "estimate.device": study.projection_device,
                                "estimate.method": "lora", "estimate.dataset_tokens": tokens})
    result = estimate(Setting.from_config(projected, corpus.mean_chunk_tokens))
    advice = advise(projected, result, corpus, knowledge.folder if knowledge else None)
    return {"model": study.projection_model, "device": result.device.name, "training_tokens_per_epoch": tokens,
            "train_seconds": result.train_seconds, "train_cost": result.train_cost, "fits": result.fits,
            "peak_memory_bytes": result.peak_memory,
            "rag_seconds_per_query": result.serving.rag_seconds_per_query,
            "finetuned_seconds_per_query": result.serving.finetuned_seconds_per_query,
            "advice": advice.recommendation, "assumptions": advice.assumptions}


def verdict(outcome: StudyOutcome) -> str:
    """The answer in one paragraph: the best strategy of the knowledge design (else the first that ran),
    what it beats and what it does not, the retrieval ceiling, and what a change of the documents does."""
    design = next((d for d in outcome.designs if d.design == "knowledge" and d.results), None) or \
        next((d for d in outcome.designs if d.results), None)
    if design is None:
        return "No design could run: see the errors below."
    ran = [r for r in design.results if r.evaluation.rows]
    if not ran:
        return "Every strategy failed: see the errors below."
    best = max(ran, key=lambda r: r.evaluation.summary[METRIC].value)
    interval = best.evaluation.summary[METRIC]
    scored = {r.label: r.evaluation.scores(METRIC) for r in ran}
    pairs = [p for p in compare_pairs(scored, METRIC, False) if best.label in (p.a, p.b)] if len(ran) > 1 else []
    beaten = [p.b if p.a == best.label else p.a for p in pairs if p.significant]
    tied = [p.b if p.a == best.label else p.a for p in pairs if not p.significant]
    n = len(design.work.data.test)
    if interval.value == 0:
        return (f"On these documents ({design.design} design, n = {n} held-out questions), no strategy gave any "
                "part of a gold answer: nothing to choose between at this size.")
    parts = [f"On these documents ({design.design} design, n = {n} held-out questions), {best.label} answers best: "
             f"{METRIC} {interval.value:.3f} [{interval.low:.3f}, {interval.high:.3f}]."]
    if beaten:
        parts.append(f"It beats {', '.join(beaten)} beyond chance (paired test, Holm-corrected).")
    if tied:
        detect = _median([p.detectable for p in pairs if not p.significant])
        parts.append(f"It cannot be told apart from {', '.join(tied)} at this n"
                     + (f" (differences under about {detect:.2f} {METRIC} go undetected)." if detect else "."))
    if design.retrieval:
        parts.append(f"Retrieval finds the question's own passage in its top {design.retrieval['k']} for "
                     f"{design.retrieval['dense']:.0%} of the questions (hybrid {design.retrieval['hybrid']:.0%}): "
                     "RAG cannot do better than its retriever.")
    changed = _changed(design.changed)
    if changed and changed["strategies"]:
        rag = {k: v for k, v in changed["strategies"].items() if k.startswith(RETRIEVING)}
        tuned = {k: v for k, v in changed["strategies"].items() if not k.startswith(RETRIEVING) and "lora" in k}
        if rag and tuned:
            parts.append(f"When {len(changed['edits'])} facts changed in the documents, the retrieving strategies gave "
                         f"the new answer {sum(v['new'] for v in rag.values())} times out of "
                         f"{sum(v['n'] for v in rag.values())} and the old one {sum(v['old'] for v in rag.values())} "
                         f"times; the finetuned ones gave the old answer {sum(v['old'] for v in tuned.values())} "
                         f"times out of {sum(v['n'] for v in tuned.values())} until retrained.")
    return " ".join(parts)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


def _size(value: int | None) -> str:
    if not value:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return "–"


def markdown(outcome: StudyOutcome, data: dict) -> str:
    index = outcome.index
    lines = [f"# Study of `{outcome.source.name}`", "",
             f"{index['documents']} documents ({index['chunks']} chunks) from `{outcome.source}`; answers written by "
             f"`{data['model']}`. Questions: `{outcome.questions.name}`.", ""]
    if outcome.reindexed:
        lines += [f"**{outcome.reindexed}**", ""]
    lines += ["## Verdict", "", data["verdict"], ""]
    projection = data["projection"]
    if projection:
        lines += [f"Advice for a {projection['model']} on {projection['device']} (the estimator's projection of this "
                  f"study): {projection['advice']}", ""]
    lines += ["![quality](study.png)", ""]
    for design, outcome_design in zip(data["designs"], outcome.designs):
        lines += _design_markdown(design, outcome_design, projection)
    if projection:
        lines += ["## The same study on a larger model", "",
                  f"Training on {projection['training_tokens_per_epoch']:,} tokens an epoch with LoRA on "
                  f"{projection['model']} ({projection['device']}): about {projection['train_seconds'] / 60:,.1f} min "
                  f"(${projection['train_cost']:,.2f}), peak memory {_size(projection['peak_memory_bytes'])}"
                  + ("" if projection["fits"] else " (does not fit: see `wb estimate`)") + ". Per query: RAG "
                  f"{projection['rag_seconds_per_query'] * 1000:,.1f} ms, finetuned (no retrieved context) "
                  f"{projection['finetuned_seconds_per_query'] * 1000:,.1f} ms of device time.", "",
                  "Assumptions: " + "; ".join(projection["assumptions"]) + ".", ""]
    lines += _trust_markdown(data["question_report"])
    return "\n".join(lines)


def _design_markdown(design: dict, outcome: DesignOutcome, projection: dict | None) -> list[str]:
    lines = [f"## Design: {design['design']}", ""]
    if "error" in design:
        return lines + [f"Not run: {design['error']}", ""]
    lines += [f"{design['question'].capitalize()} {design['test']} questions evaluated, {design['train']} to learn "
              f"from (and to draw demonstrations from). Full report: `{outcome.folder.name}/summary.md`.", "",
              f"| strategy | n | {METRIC} [95 % CI] | answer contained | setup (s) | latency (s) | prompt tokens | "
              "trainable parameters | storage | forgetting (loss change) |", "|---" * 10 + "|"]
    for row in design["strategies"]:
        if row["error"]:
            lines.append(f"| {row['strategy']} | failed: {row['error']} |" + " |" * 8)
            continue
        f1 = row[METRIC]
        lines.append(f"| {row['strategy']} | {row['n']} | {f1['value']:.3f} [{f1['low']:.3f}, {f1['high']:.3f}] | "
                     f"{row['answer_contained']['value']:.3f} | {_num(row.get('setup_seconds'), 1)} | "
                     f"{_num(row.get('latency_seconds'), 2)} | {_num(row.get('prompt_tokens'), 0)} | "
                     f"{_num(row.get('trainable_parameters'))} | {_size(row.get('storage_bytes'))} | "
                     f"{_num(row.get('general_loss_change'))} |")
    retrieval = design["retrieval"]
    if retrieval:
        lines += ["", f"Retrieval ceiling: the question's own chunk is in the top {retrieval['k']} for "
                  f"{_pct(retrieval['dense'])} of {retrieval['questions']} questions (dense), {_pct(retrieval['hybrid'])} "
                  "(hybrid)."]
    if design["known_closed_book"] is not None:
        lines += ["", f"What the base model already knew: closed-book, before any training, it gave the answer to "
                  f"{design['known_closed_book']:.0f} of {design['test']} questions."]
    lines += ["", f"Paired verdicts ({METRIC}, Holm-corrected"
              + (f"; at this n, differences from the best under about {design['detectable']:.3f} mostly go undetected"
                 if design["detectable"] else "") + "):", ""]
    ordered = sorted(design["comparisons"], key=lambda p: (not p["significant"], p["p_holm"]))
    best = max((r for r in design["strategies"] if not r["error"]), key=lambda r: r[METRIC]["value"], default=None)
    shown = [p for p in ordered if p["significant"] or (best and best["strategy"] in (p["a"], p["b"]))]
    lines += [f"- {p['verdict']}" for p in shown] or ["- (fewer than two strategies ran)"]
    if len(shown) < len(ordered):
        lines.append(f"- the other {len(ordered) - len(shown)} pairs: no detectable difference "
                     f"(every pair: `{outcome.folder.name}/summary.md`)")
    if design["detectable"]:
        needed = math.ceil(design["test"] * (design["detectable"] / 0.05) ** 2)
        lines += ["", f"What n buys: {design['test']} questions detect differences of about {design['detectable']:.2f} "
                  f"{METRIC}; detecting 0.05 would take about {needed:,} questions."]
    changed = design["changed"]
    if changed and changed["strategies"]:
        example = min(changed["edits"], key=lambda e: ("\n" in e["old"], len(e["old"])))  # a readable one
        lines += ["", "### When the documents change", "",
                  f"{len(changed['edits'])} answers were edited in a copy of the documents (for example "
                  f"\"{example['old']}\" became \"{example['new']}\"), the copy's index updated, "
                  "and the questions asked again. Nothing was retrained.", "",
                  "| strategy | gives the new answer | still gives the old one |", "|---|---|---|"]
        lines += [f"| {label} | {v['new']:.0f} of {v['n']} | {v['old']} of {v['n']} |"
                  for label, v in changed["strategies"].items()]
        if projection:
            lines += ["", f"A finetuned model learns a change only by training again: here each LoRA run took the setup "
                      f"time above; on {projection['model']} ({projection['device']}) the estimator puts one retraining "
                      f"at about {projection['train_seconds'] / 60:,.1f} min (${projection['train_cost']:,.2f}) per update, "
                      "while RAG only re-embeds the changed documents."]
    human = design["human"]
    if human:
        lines += ["", "### Checked against questions people wrote", "",
                  f"{human['n']} hand-written questions, asked of the same strategies: {human['agreeing']} of "
                  f"{len(human['pairs'])} paired differences have the same sign as on the generated questions.", "",
                  f"| strategy | {METRIC} on human questions [95 % CI] | answer contained |", "|---|---|---|"]
        lines += [f"| {label} | {v[METRIC]:.3f} [{v['low']:.3f}, {v['high']:.3f}] | {v['answer_contained']:.3f} |"
                  for label, v in human["strategies"].items()]
        lines += ["", "Verdicts on the human questions:", ""]
        lines += [f"- {p['human_verdict']}" + ("" if p["same_sign"] else " (the generated questions say the opposite)")
                  for p in human["pairs"]]
    return lines + [""]


def _trust_markdown(trust: dict | None) -> list[str]:
    lines = ["## How far the questions can be trusted", ""]
    if trust:
        rejected = trust.get("rejected_by") or {}
        lines += [f"{trust.get('kept')} questions kept of {trust.get('requested')} asked for"
                  + (" (rejected by check: " + ", ".join(f"{k} {v}" for k, v in rejected.items()) + ")" if rejected else "")
                  + f". Retrieval finds a question's own chunk for {_pct(trust.get('retrieves_own_chunk'))}; the writing "
                  f"model answers it with its answer given the chunk for {_pct(trust.get('answered_with_chunk'))}; the "
                  f"base model answers it closed-book for {_pct(trust.get('answered_closed_book'))}.", ""]
    else:
        lines += ["The questions were given (reviewed or written by hand); no generation report beside them.", ""]
    return lines + [QUESTION_AGREEMENT + " Review them (`wb questions review`, or the Study page) before betting on "
                    "a close verdict.", ""]


def _plot(outcome: StudyOutcome) -> bytes:
    """Each design's strategies with their intervals; the changed-documents answers beside them."""
    from matplotlib.figure import Figure

    ran = [d for d in outcome.designs if d.results]
    changed = next((d.changed for d in ran if d.changed and d.changed["strategies"]), None)
    panels = len(ran) + (1 if changed else 0)
    rows = max(len(d.results) for d in ran)
    figure = Figure(figsize=(5.5 * panels, 0.45 * rows + 1.6), layout="constrained")
    axes_list = figure.subplots(1, panels, squeeze=False)[0]
    for axes, design in zip(axes_list, ran):
        shown = sorted((r for r in design.results if r.evaluation.rows), key=lambda r: r.evaluation.summary[METRIC].value)
        values = [r.evaluation.summary[METRIC] for r in shown]
        axes.errorbar([v.value for v in values], range(len(values)),
                      xerr=[[v.value - v.low for v in values], [v.high - v.value for v in values]], fmt="o", capsize=4)
        axes.set_yticks(range(len(values)), [r.label for r in shown])
        axes.set_xlabel(f"{METRIC} (95 % interval)")
        axes.set_title(f"{design.design} design, n = {len(design.work.data.test)}")
        axes.grid(axis="x", alpha=0.3)
    if changed:
        axes = axes_list[-1]
        labels = list(changed["strategies"])
        new = [sum(r["answer_contained"] for r in changed["strategies"][k].rows) for k in labels]
        old = [changed["old_answers"][k] for k in labels]
        y = range(len(labels))
        axes.barh([i + 0.2 for i in y], new, height=0.4, label="new answer", color="tab:green")
        axes.barh([i - 0.2 for i in y], old, height=0.4, label="old answer", color="tab:red")
        axes.set_yticks(list(y), labels)
        axes.set_xlabel(f"answers to {len(changed['edits'])} edited facts")
        axes.set_title("after the documents changed")
        axes.legend(loc="lower right")
    return figure_png(figure)
