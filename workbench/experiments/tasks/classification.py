"""A classification variant: the generator picks a label (zero-shot, few-shot, finetuned), or a
trained classifier predicts it; scored against each held-out item's label."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.evaluation.evaluator import Evaluation, evaluate
from workbench.evaluation.qa import answer_details
from workbench.experiments.cache import (
    answer_costs,
    ensure_run,
    finetuned_generator,
    run_costs,
    training_example,
    untrained_costs,
)
from workbench.experiments.data import as_rows
from workbench.experiments.workspace import Workspace


def label_question(config: Config, text: str, labels: list[str]) -> str:
    return config.strategies.label_question.format(text=text, labels=", ".join(labels))


def evaluate_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    if spec.strategy == "classifier":
        return _classifier_variant(work, config, label)
    from workbench.strategies import StrategyFactory, StrategyOptions

    data = work.data
    ask = [replace(p, question=label_question(config, p.question, data.labels)) for p in data.test]
    pool = [replace(p, question=label_question(config, p.question, data.labels)) for p in data.train]
    costs = untrained_costs()
    adapters: tuple[str, ...] = ()
    if spec.strategy == "finetuned":
        adapters = finetuned_generator(work, config, [training_example(p) for p in pool], costs)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters), default_pool=pool, models=work.models)
    answers = factory.build(spec.strategy)[0].choose_many(ask, data.labels, progress=work.progress)
    evaluation = evaluate("classification", label, [p.id for p in data.test], [a.text for a in answers],
                          [p.answers[0] for p in data.test], extras=[answer_details(a) for a in answers])
    return evaluation, {**costs, **answer_costs(answers)}


def _classifier_variant(work: Workspace, config: Config, label: str) -> tuple[Evaluation, dict]:
    """A classifier trained (or reused) on the training items as a table, timed predicting the held-out ones."""
    from workbench.training.classifier import load_classifier

    table = io.StringIO()
    writer = csv.writer(table, delimiter="\t")
    writer.writerow([config.data.text_column, config.data.label_column])
    writer.writerows([r.text, r.label] for r in as_rows(work.data.train))
    run = ensure_run(work, config, "classifier", table.getvalue(), {})
    classifier = load_classifier(run)
    texts = [p.question for p in work.data.test]
    started = time.perf_counter()
    predicted = classifier.predict(texts)
    latency = (time.perf_counter() - started) / max(len(texts), 1)
    evaluation = evaluate("classification", label, [p.id for p in work.data.test], predicted,
                          [p.answers[0] for p in work.data.test], extras=[{"question": t} for t in texts])
    return evaluation, {**run_costs(run), "latency_seconds": latency, "prompt_tokens": None}
