"""Run an experiment: every variant of every strategy on the same held-out items.

Each finished variant is saved with a key that hashes its settings and the data; a killed experiment
reruns only what had not finished (an interrupted training run resumes from its last checkpoint, see
`cache`). One variant failing is recorded in its row; the others go on. What each task does with a
variant is in `tasks`; the results folder's files in `outputs` and `report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.errors import Failure, WorkbenchError
from workbench.evaluation.evaluator import Evaluation, summarize
from workbench.evaluation.leakage import find_overlaps
from workbench.experiments.cache import key_of, settings_dump
from workbench.experiments.data import filled_text, load_split
from workbench.experiments.outputs import VariantRecord, predictions_path, read_output, variant_path
from workbench.experiments.tasks import TASK_VARIANTS
from workbench.experiments.workspace import Workspace
from workbench.models.pool import ModelPool
from workbench.ondisk import conform, write_json, write_jsonl
from workbench.progress import Cancelled, ProgressCallback, start_stage


@dataclass
class VariantResult:
    """One variant's evaluation and costs, or (with no rows) the failure that stopped it."""

    label: str
    strategy: str
    settings: dict[str, Any]
    evaluation: Evaluation
    costs: dict[str, float | None] = field(default_factory=dict)
    error: Failure | None = None


def experiment_output(config: Config, smoke: bool = False) -> Path:
    spec = config.experiment
    name = spec.name + ("-smoke" if smoke else "")
    return Path(spec.output or Path(config.training.output_root) / "experiments" / name)


def prepare(config: Config, smoke: bool = False, output: Path | None = None,
            progress: ProgressCallback | None = None, models: ModelPool | None = None) -> Workspace:
    """The experiment's data, split once for every variant and checked for leaks, and where it writes."""
    spec = config.experiment
    if spec is None:
        raise WorkbenchError("this config has no `experiment:` section: give an experiment file, e.g. "
                             "wb compare --config configs/experiments/demo-qa.yaml")
    if smoke:
        config = config.updated(spec.smoke.settings)
    eval_items = spec.smoke.eval_items if smoke else spec.data.eval_items
    train_items = spec.smoke.train_items if smoke else spec.data.train_items
    data = load_split(config, spec, eval_items, train_items)
    if smoke:  # retrieval over the sampled items' own paragraphs: a small index to build
        used = {p.doc_id for p in data.train + data.test}
        data = replace(data, documents=[d for d in data.documents if d.id in used])
    # What strategies learn from: training items are also the demonstration pool. An evaluated QA
    # item's own paragraph is retrieved by design, so only its question is checked.
    if data.task == "generation":  # a record's own text: the prompt's shared wording is no leak
        learned, evaluated = ([filled_text(spec.data.prompt, p.question) for p in side] for side in (data.train, data.test))
    else:
        learned = [p.question for p in data.train] + [p.context for p in data.train if p.context]
        evaluated = [p.question for p in data.test]
    leaks = {p.id: reasons for p, reasons in zip(data.test, find_overlaps(evaluated, learned)) if reasons}
    return Workspace(config, spec, data, Path(output or experiment_output(config, smoke)), progress, leaks,
                     spec.smoke.settings if smoke else {}, models)


def compact(row: dict[str, Any]) -> None:
    """An experiment's prediction rows keep what explains a score (retrieved documents, each label's
    log-probability), not the full prompt: thousands of rows stay small enough to commit."""
    answer = row.pop("answer", None)
    if answer:
        row["sources"] = [s["doc_id"] for s in answer["sources"]]
        if answer["choices"]:
            row["choices"] = {label: round(score, 3) for label, score in answer["choices"].items()}


def run_variant(work: Workspace, spec: StrategySpec, label: str, values: dict[str, Any]) -> VariantResult:
    """One variant: reused as saved when its key (its settings, the data) is unchanged, else evaluated and
    saved (its predictions, then its record); a failure becomes the result's error."""
    try:
        config = variant_config(work, label, values)
    except WorkbenchError as exc:
        return _failed(work, spec, label, values, exc)
    key = key_of(label, settings_dump(config), spec.train_context, work.data.fingerprint)
    saved = _saved(work, label, key)
    if saved:
        return VariantResult(label, spec.strategy, values, *saved)
    try:
        evaluation, costs = TASK_VARIANTS[work.spec.task](work, config, spec, label)
    except Cancelled:  # the job is being cancelled: stop the experiment, not just this variant
        raise
    except Exception as exc:  # noqa: BLE001 - a broken variant is a row with its error; the others still run
        return _failed(work, spec, label, values, exc)
    for row in evaluation.rows:
        row["leak"] = work.leaks.get(row["id"], [])
        compact(row)
    record = {"key": key, "label": label, "strategy": spec.strategy, "settings": values, "costs": costs,
              "predictions": str(predictions_path(label))}
    conform(VariantRecord, record)  # what a rerun will expect of it, checked before it is written
    write_jsonl(work.output / record["predictions"], evaluation.rows)
    write_json(variant_path(work.output, label), record)
    return VariantResult(label, spec.strategy, values, evaluation, costs)


def _saved(work: Workspace, label: str, key: str) -> tuple[Evaluation, dict[str, Any]] | None:
    """The variant's evaluation and costs as an earlier run saved them under this key, with the leakage
    guard's verdict as of now; None when it has not finished under this key."""
    path = variant_path(work.output, label)
    if not path.is_file():
        return None
    record = read_output(path, VariantRecord)
    predictions = work.output / record.predictions
    if record.key != key or not predictions.is_file():
        return None
    rows = read_output(predictions, dict[str, Any], jsonl=True)
    for row in rows:
        row["leak"] = work.leaks.get(row["id"], [])
    return Evaluation(work.spec.task, label, rows, summarize(work.spec.task, rows)), record.costs


def _failed(work: Workspace, spec: StrategySpec, label: str, values: dict[str, Any], exc: Exception) -> VariantResult:
    return VariantResult(label, spec.strategy, values, Evaluation(work.spec.task, label, [], {}), error=Failure.of(exc))


def run_experiment(config: Config, smoke: bool = False, output: Path | None = None,
                   progress: ProgressCallback | None = None,
                   models: ModelPool | None = None) -> tuple[list[VariantResult], Path]:
    """Every variant on the same items, then the report; returns (results, results folder)."""
    work = prepare(config, smoke, output, progress, models)
    return run_prepared(work, smoke), work.output


def variants(work: Workspace, smoke: bool = False) -> list[tuple[StrategySpec, str, dict[str, Any]]]:
    """(strategy, label, config values) of every variant the experiment runs (`--smoke`: each strategy's
    first unless the experiment says all)."""
    first_only = smoke and work.spec.smoke.variants == "first"
    return [(spec, label, values) for spec in work.spec.strategies
            for label, values in spec.variants()[:1 if first_only else None]]


def variant_config(work: Workspace, label: str, values: dict[str, Any]) -> Config:
    """The config a variant runs under: the experiment's, its values, then `--smoke`'s settings."""
    return work.config.updated({**values, **work.overrides}, {k: f"experiment strategy {label}" for k in values})


def run_prepared(work: Workspace, smoke: bool = False) -> list[VariantResult]:
    """Every variant of a prepared experiment, then the report."""
    from workbench.experiments.report import write_report

    chosen = variants(work, smoke)
    done = start_stage(work.progress, "strategies", len(chosen))
    results = []
    for spec, label, values in chosen:
        results.append(run_variant(work, spec, label, values))
        write_report(work, results)  # the folder always shows every finished variant, even mid-run
        done.advance(1)
    return results
