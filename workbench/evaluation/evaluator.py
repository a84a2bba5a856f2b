"""The one evaluator: per-item rows plus a summary with intervals, for every task.

A task names its per-item metrics (from `metrics`), its primary metric, and the metrics that only
exist over a whole set (macro-F1, corpus BLEU). `evaluate` scores each prediction against its
reference, then summarizes every metric with a 95 % bootstrap interval over the items. QA
evaluation, classification, experiments, the UI and training-time scoring all come through here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.evaluation import metrics
from workbench.evaluation.statistics import Interval, bootstrap, mean_interval


@dataclass(frozen=True)
class Task:
    """How one kind of prediction is scored. `reference` is what `item_metrics` compares with: the
    gold answers (QA), the label (classification), the reference texts (generation), the relevant
    ids (retrieval)."""

    item_metrics: Callable[[Any, Any], dict[str, float]]
    primary: str
    set_metrics: Mapping[str, Callable[[list, list], float]] = field(default_factory=dict)
    binary: frozenset[str] = frozenset()  # per-item metrics that are 0 or 1 (paired tests use McNemar)
    measured: tuple[str, ...] = ()  # per-item metrics the caller measures with models, given in `extras`


def _qa(prediction: str, answers: Sequence[str]) -> dict[str, float]:
    return {"exact_match": metrics.exact_match(prediction, answers), "token_f1": metrics.token_f1(prediction, answers),
            "answer_contained": metrics.answer_contained(prediction, answers)}


def _classification(prediction: str, label: str) -> dict[str, float]:
    return {"accuracy": float(prediction == label)}


def _generation(prediction: str, references: Sequence[str]) -> dict[str, float]:
    return {**metrics.rouge(prediction, references), "bleu": metrics.sentence_bleu(prediction, references),
            "chrf": metrics.sentence_chrf(prediction, references)}


def _retrieval(retrieved: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    relevant = set(relevant)
    return {"recall@1": metrics.recall_at_k(retrieved, relevant, 1), "recall@5": metrics.recall_at_k(retrieved, relevant, 5),
            "mrr": metrics.reciprocal_rank(retrieved, relevant), "ndcg@10": metrics.ndcg_at_k(retrieved, relevant, 10)}


def _preference(prediction: str, chosen: str) -> dict[str, float]:
    return {"rougeL": metrics.rouge(prediction, [chosen])["rougeL"]}


TASKS: dict[str, Task] = {
    "qa": Task(_qa, primary="token_f1", binary=frozenset({"exact_match", "answer_contained"})),
    "classification": Task(_classification, primary="accuracy", set_metrics={"macro_f1": metrics.macro_f1},
                           binary=frozenset({"accuracy"})),
    "generation": Task(_generation, primary="rouge1", set_metrics={"corpus_bleu": metrics.corpus_bleu}),
    "retrieval": Task(_retrieval, primary="mrr", binary=frozenset({"recall@1", "recall@5"})),
    # a reply to a preference prompt: the reward model's verdict against the base model's reply (1 win,
    # 0.5 tie, 0 loss), its score, the held-out likelihood margin gained over the base, ROUGE-L vs chosen
    "preference": Task(_preference, primary="win_rate", measured=("win_rate", "reward", "margin_gain")),
}


@dataclass
class Evaluation:
    """One strategy on one set of items: a row per item (id, prediction, reference, metric values and
    whatever the caller added) and every metric summarized with its interval. A strategy that failed
    has no rows and its `error`."""

    task: str
    strategy: str
    rows: list[dict[str, Any]]
    summary: dict[str, Interval]
    error: str | None = None

    @property
    def primary_metric(self) -> str:
        return TASKS[self.task].primary

    @property
    def primary(self) -> Interval | None:
        return self.summary.get(self.primary_metric)

    def scores(self, metric: str) -> list[float]:
        """Per-item values of a metric, in item order (for paired tests)."""
        return [row[metric] for row in self.rows]


def score_items(task: str, predictions: Sequence[Any], references: Sequence[Any]) -> list[dict[str, float]]:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return [TASKS[task].item_metrics(p, r) for p, r in zip(predictions, references)]


def mean_scores(task: str, predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """Plain means of the per-item metrics (training-time scoring, where an interval would only slow it)."""
    rows = score_items(task, predictions, references)
    return {name: metrics.mean([r[name] for r in rows]) for name in rows[0]} if rows else {}


def evaluate(task: str, strategy: str, ids: Sequence[str], predictions: Sequence[Any], references: Sequence[Any],
             extras: Sequence[Mapping[str, Any]] | None = None, seed: int = 0) -> Evaluation:
    """Score every prediction and summarize; `extras[i]` is copied into row i (latency, tokens, ...)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    measured = TASKS[task].measured
    if measured and not (extras and all(set(measured) <= set(extra) for extra in extras)):
        raise ValueError(f"{task} evaluation: every item's extras must give {', '.join(measured)}")
    item_scores = score_items(task, predictions, references)
    rows = [{"id": str(i), "prediction": p, "reference": r, **s, **(dict(extras[n]) if extras else {})}
            for n, (i, p, r, s) in enumerate(zip(ids, predictions, references, item_scores))]
    return Evaluation(task, strategy, rows, summarize(task, rows, seed))


def summarize(task: str, rows: Sequence[Mapping[str, Any]], seed: int = 0) -> dict[str, Interval]:
    """Every per-item metric's mean, and every set metric, with 95 % bootstrap intervals."""
    if not rows:
        return {}
    definition = TASKS[task]
    summary = {name: mean_interval([row[name] for row in rows], seed) for name in score_names(task, rows)}
    predictions, references = [row["prediction"] for row in rows], [row["reference"] for row in rows]
    for name, metric in definition.set_metrics.items():
        summary[name] = bootstrap(len(rows), lambda idx, metric=metric: metric(
            [predictions[i] for i in idx], [references[i] for i in idx]), seed=seed, resamples=500)
    return summary


def score_names(task: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-item metric names of a task, in their order (read from a scored row)."""
    first = rows[0]
    return [*TASKS[task].measured, *TASKS[task].item_metrics(first["prediction"], first["reference"])]

