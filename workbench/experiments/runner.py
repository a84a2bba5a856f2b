"""Run an experiment: every variant of every strategy on the same held-out items.

Indexes and trained runs are cached under keys that hash their settings and their data, so a rerun
reuses them and a changed setting trains anew (never silently stale). Each finished variant is saved
with its key; a killed experiment reruns only what had not finished (an interrupted training run
resumes from its last checkpoint). One variant failing is recorded in its row; the others go on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import Config
from workbench.corpus import QAPair
from workbench.errors import WorkbenchError
from workbench.evaluation.evaluator import Evaluation, evaluate, summarize
from workbench.evaluation.statistics import paired_bootstrap_p
from workbench.evaluation.qa import answer_details, file_safe
from workbench.experiments.data import ExperimentData, as_rows, filled_text, load_split, resolve
from workbench.evaluation.leakage import find_overlaps
from workbench.experiments.spec import ExperimentSpec, StrategySpec
from workbench.ondisk import write_atomic, write_json, write_jsonl
from workbench.progress import Cancelled, ProgressCallback, start_stage
from workbench.training.runs import read_json

@dataclass
class VariantResult:
    label: str
    strategy: str
    settings: dict[str, Any]
    evaluation: Evaluation
    costs: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Workspace:
    """Where one experiment keeps what it builds and writes."""

    config: Config
    spec: ExperimentSpec
    data: ExperimentData
    output: Path
    progress: ProgressCallback | None
    leaks: dict[str, list[str]]  # evaluated item id -> overlap reasons
    overrides: dict[str, Any] = field(default_factory=dict)  # --smoke: its settings win over every strategy's own

    @property
    def general_request(self) -> dict[str, Path]:
        """The generator request's instructions to measure forgetting on (none given: a bundled set)."""
        return {"general_data": resolve(self.spec.data.general)} if self.spec.data.general else {}

    @property
    def cache(self) -> Path:
        return Path(self.config.training.output_root) / "experiment-cache"


def key_of(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _settings_dump(config: Config) -> dict:
    """The settings a result depends on (not where files go, not the UI, not the experiment itself)."""
    dump = config.model_dump(mode="json", exclude={"ui", "experiment"})
    dump["training"].pop("output_root")
    dump["index"].pop("root")
    return dump


# ---- the shared pieces: an index, a trained run ----------------------------------------------------------


def ensure_index(work: Workspace, config: Config) -> tuple[str, float]:
    """The experiment corpus's index under these chunking/index/embedder settings: (name, seconds it
    took to build; 0 when it was already there)."""
    from workbench.indexing import build_index

    settings = {k: v for k, v in _settings_dump(config).items() if k in ("chunking", "index")}
    name = f"experiment-{key_of(settings, config.models.embedder, [repr(d) for d in work.data.documents])}"
    timing = work.cache / f"{name}.json"  # every variant on this index is charged its build time
    started = time.perf_counter()
    index = build_index(name, work.data.documents, config=config, progress=work.progress)
    if index.last_update.added or not timing.is_file():
        write_json(timing, {"build_seconds": time.perf_counter() - started})
    return name, read_json(timing)["build_seconds"]


def ensure_run(work: Workspace, config: Config, kind: str, examples: list[dict] | str, request: dict) -> Path:
    """A finished training run for these settings and examples, trained (or resumed) if needed."""
    from workbench import api

    settings = _settings_dump(config)
    folder = work.cache / f"{kind}-{key_of(kind, settings['training'], settings['models'], examples, request)}"
    if (folder / "COMPLETE").is_file():
        return folder
    data = work.cache / "data" / f"{folder.name}.{'tsv' if kind == 'classifier' else 'jsonl'}"
    write_atomic(data, examples if isinstance(examples, str) else "".join(json.dumps(e) + "\n" for e in examples))
    resume = (folder / "config.json").is_file()
    if kind == "classifier":
        api.train_classifier(config, api.ClassifierRequest(data=data, output=folder, resume=resume), work.progress)
    elif kind == "reward":
        api.train_reward(config, api.RewardRequest(data=data, output=folder, resume=resume), work.progress)
    else:
        api.train_generator(config, api.GeneratorRequest(data=data, output=folder, resume=resume, **request), work.progress)
    return folder


def _run_costs(folder: Path) -> dict[str, float | None]:
    """What a trained run cost, and for a generator what it forgot on general instructions
    (experiment.data.general, else a bundled set) against the base model: the change of its
    completion loss, and its replies' ROUGE-L before and after with a paired test."""
    summary = read_json(folder / "summary.json")
    costs = {"setup_seconds": summary.get("wall_seconds"), "trainable_parameters": summary.get("trainable_params")}
    dropped = summary.get("truncation", {}).get("train", {}).get("dropped")
    if dropped:  # a run that lost examples to max_length says so in its row
        costs["training_examples_dropped"] = dropped
    forgetting = summary.get("forgetting")
    if forgetting and "after" in forgetting:
        before, after = forgetting["before"], forgetting["after"]
        costs["general_loss_change"] = after["loss"] - before["loss"]
        if "rougeL_items" in before:  # the task metric on the same instructions, paired item by item
            change = np.subtract(after["rougeL_items"], before["rougeL_items"])
            costs.update(general_rougeL_before=before["rougeL"], general_rougeL_after=after["rougeL"],
                         general_rougeL_change_p=paired_bootstrap_p(change))
    return costs


def _finetuned_generator(work: Workspace, config: Config, examples: list[dict], costs: dict,
                         with_context: str = "none", index: str | None = None) -> tuple[str, ...]:
    """The generator trained (or reused) on `examples` (QA records), as the factory's adapter list;
    its costs are added to `costs`."""
    run = ensure_run(work, config, "generator", examples,
                     {"format": "qa", "with_context": with_context, "index": index, **work.general_request})
    costs.update(_run_costs(run))
    return (f"{run.name}={run}",)  # one adapter name per trained run


def _example(pair: QAPair) -> dict:
    return {"id": pair.id, "question": pair.question, "answers": list(pair.answers)}


def _answer_costs(answers) -> dict[str, float]:
    n = max(len(answers), 1)
    return {"latency_seconds": sum(a.seconds for a in answers) / n, "prompt_tokens": sum(a.tokens_in for a in answers) / n}


# ---- QA ----------------------------------------------------------------------------------------------------


def _qa_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    from workbench.evaluation.qa import evaluate_answers
    from workbench.strategies import StrategyFactory, StrategyOptions

    name = spec.strategy
    costs: dict[str, float | None] = {"setup_seconds": 0.0, "trainable_parameters": 0}
    index = None
    if name in ("rag", "rag+finetuned") or spec.train_context == "retrieved":
        index, costs["setup_seconds"] = ensure_index(work, config)
    adapters: tuple[str, ...] = ()
    if name in ("finetuned", "rag+finetuned"):
        examples = [{"id": p.id, "question": p.question, "answers": list(p.answers), "context": p.context,
                     "doc_id": p.doc_id} for p in work.data.train]
        adapters = _finetuned_generator(work, config, examples, costs, spec.train_context, index)
    factory = StrategyFactory(config, StrategyOptions(index=index, adapters=adapters), default_pool=work.data.train)
    strategy = factory.build(name)[0]
    answers = strategy.answer_many(work.data.test, progress=work.progress)
    return evaluate_answers(label, work.data.test, answers), {**costs, **_answer_costs(answers)}


# ---- classification ---------------------------------------------------------------------------------------


def label_question(config: Config, text: str, labels: list[str]) -> str:
    return config.strategies.label_question.format(text=text, labels=", ".join(labels))


def _classification_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    data = work.data
    if spec.strategy == "classifier":
        return _classifier_variant(work, config, label)
    from workbench.strategies import StrategyFactory, StrategyOptions

    ask = [replace(p, question=label_question(config, p.question, data.labels)) for p in data.test]
    pool = [replace(p, question=label_question(config, p.question, data.labels)) for p in data.train]
    costs: dict[str, float | None] = {"setup_seconds": 0.0, "trainable_parameters": 0}
    adapters: tuple[str, ...] = ()
    if spec.strategy == "finetuned":
        adapters = _finetuned_generator(work, config, [_example(p) for p in pool], costs)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters), default_pool=pool)
    strategy = factory.build(spec.strategy)[0]
    answers = strategy.choose_many(ask, data.labels, progress=work.progress)
    evaluation = evaluate("classification", label, [p.id for p in data.test], [a.text for a in answers],
                          [p.answers[0] for p in data.test], extras=[answer_details(a) for a in answers])
    return evaluation, {**costs, **_answer_costs(answers)}


def _classifier_variant(work: Workspace, config: Config, label: str) -> tuple[Evaluation, dict]:
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
    return evaluation, {**_run_costs(run), "latency_seconds": latency, "prompt_tokens": None}


# ---- generation -------------------------------------------------------------------------------------------


def _generation_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    """The generator's whole reply (summary, instruction response) against the references. The
    strategies' short-answer clean-up (first line only, ...) is for QA: here the raw reply is scored."""
    from workbench.strategies import StrategyFactory, StrategyOptions

    costs: dict[str, float | None] = {"setup_seconds": 0.0, "trainable_parameters": 0}
    adapters: tuple[str, ...] = ()
    if spec.strategy == "finetuned":
        adapters = _finetuned_generator(work, config, [_example(p) for p in work.data.train], costs)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters, whole_replies=True), default_pool=work.data.train)
    answers = factory.build(spec.strategy)[0].answer_many(work.data.test, progress=work.progress)
    evaluation = evaluate("generation", label, [p.id for p in work.data.test], [a.raw_text.strip() for a in answers],
                          [list(p.answers) for p in work.data.test], extras=[answer_details(a) for a in answers])
    return evaluation, {**costs, **_answer_costs(answers)}


# ---- preference ----------------------------------------------------------------------------------------


def _preference_records(pairs: list[QAPair]) -> list[dict]:
    return [{"prompt": p.question, "chosen": p.answers[0], "rejected": p.answers[1]} for p in pairs]


def _preference_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    """Each held-out prompt answered greedily, the reply judged against the base model's by the
    experiment's reward model (trained on the training pairs), the likelihood margin of chosen over
    rejected gained over the base, and ROUGE-L against the chosen response. `finetuned` trains with
    `training.generator.method`: lora is SFT on the chosen responses, dpo and rloo tune on the pairs
    (rloo against the same reward model)."""
    from workbench.preference import PREFERENCE_METHODS
    from workbench.strategies import StrategyFactory, StrategyOptions

    records = _preference_records(work.data.train)
    judge_run = ensure_run(work, work.config, "reward", records, {})  # one judge for every variant
    costs: dict[str, float | None] = {"setup_seconds": 0.0, "trainable_parameters": 0}
    adapters: tuple[str, ...] = ()
    run = None
    if spec.strategy == "finetuned":
        method = config.training.generator.method
        if method in PREFERENCE_METHODS:
            config = config.updated({"training.preference.reward_run": str(judge_run)})
            run = ensure_run(work, config, "generator", records, work.general_request)
        else:  # supervised finetuning on the preferred responses
            sft = [{"instruction": r["prompt"], "input": "", "output": r["chosen"]} for r in records]
            run = ensure_run(work, config, "generator", sft, {"format": "instruction", **work.general_request})
        costs.update(_run_costs(run))
        adapters = (f"{run.name}={run}",)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters, whole_replies=True), default_pool=[])
    answers = factory.build(spec.strategy)[0].answer_many(work.data.test, progress=work.progress)
    replies = [a.raw_text.strip() for a in answers]
    judged = _judge(work, config, judge_run, replies, run)
    evaluation = evaluate("preference", label, [p.id for p in work.data.test], replies,
                          [p.answers[0] for p in work.data.test],
                          extras=[{**scores, **answer_details(a)} for scores, a in zip(judged, answers)])
    return evaluation, {**costs, **_answer_costs(answers)}


def _judge(work: Workspace, config: Config, judge_run: Path, replies: list[str], run: Path | None) -> list[dict]:
    """Per held-out item: win_rate (the reply's reward against the base reply's), reward, margin_gain."""
    from workbench.models import load_generator
    from workbench.preference.reward import load_reward_model
    from workbench.preference.scoring import reward_scores
    from workbench.training.examples import PromptCompletion, chat_messages
    from workbench.training.generator import generate_replies, load_trained_generator

    prompts = [list(chat_messages(config.generation.system_prompt, p.question)) for p in work.data.test]
    settings = _settings_dump(config)
    key = key_of(settings["generation"], settings["models"], config.training.preference.max_length, work.data.fingerprint)
    cached = work.cache / f"preference-base-{key}.json"
    if cached.is_file():  # the base model's side, shared by every variant
        base_side = read_json(cached)
    else:
        base = load_generator(config.models.generator, config.models.device)
        examples = [PromptCompletion(tuple(m), "") for m in prompts]
        base_side = {"replies": generate_replies(base.model, base.tokenizer, examples, config.generation.max_new_tokens),
                     "gaps": _preference_gaps(base.model, base.tokenizer, prompts, work.data.test, config)}
        write_json(cached, base_side)
    judge = load_reward_model(judge_run, config.models.device)
    rewards = reward_scores(judge.model, judge.tokenizer, list(zip(prompts, replies)), judge.max_length)
    base_rewards = reward_scores(judge.model, judge.tokenizer, list(zip(prompts, base_side["replies"])), judge.max_length)
    if run is None:
        gaps = base_side["gaps"]
    else:
        tuned = load_trained_generator(run, config.models.device)
        gaps = _preference_gaps(tuned.model, tuned.tokenizer, prompts, work.data.test, config)
    return [{"win_rate": 1.0 if r > b else 0.5 if r == b else 0.0, "reward": r, "margin_gain": g - g0,
             "base_reply": reply} for r, b, g, g0, reply in zip(rewards, base_rewards, gaps, base_side["gaps"],
                                                                 base_side["replies"])]


def _preference_gaps(model, tokenizer, prompts: list[list[dict]], items: list[QAPair], config: Config) -> list[float]:
    """log p(chosen) - log p(rejected) of each held-out pair under `model`."""
    from workbench.preference.scoring import response_logprobs
    from workbench.training.examples import PromptCompletion

    length = config.training.preference.max_length
    chosen = response_logprobs(model, tokenizer, [PromptCompletion(tuple(m), p.answers[0]) for m, p in zip(prompts, items)], length)
    rejected = response_logprobs(model, tokenizer, [PromptCompletion(tuple(m), p.answers[1]) for m, p in zip(prompts, items)], length)
    return [c - r for c, r in zip(chosen, rejected)]


TASK_VARIANTS: dict[str, Callable[[Workspace, Config, StrategySpec, str], tuple[Evaluation, dict]]] = {
    "qa": _qa_variant,
    "classification": _classification_variant,
    "generation": _generation_variant,
    "preference": _preference_variant,
}


# ---- the experiment -----------------------------------------------------------------------------------------


def experiment_output(config: Config, smoke: bool = False) -> Path:
    spec = config.experiment
    name = spec.name + ("-smoke" if smoke else "")
    return Path(spec.output or Path(config.training.output_root) / "experiments" / name)


def prepare(config: Config, smoke: bool = False, output: Path | None = None,
            progress: ProgressCallback | None = None) -> Workspace:
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
                     spec.smoke.settings if smoke else {})


def compact(row: dict[str, Any]) -> None:
    """An experiment's prediction rows keep what explains a score (retrieved documents, each label's
    log-probability), not the full prompt: thousands of rows stay small enough to commit."""
    answer = row.pop("answer", None)
    if answer:
        row["sources"] = [s["doc_id"] for s in answer["sources"]]
        if answer["choices"]:
            row["choices"] = {label: round(score, 3) for label, score in answer["choices"].items()}


def run_variant(work: Workspace, spec: StrategySpec, label: str, values: dict[str, Any]) -> VariantResult:
    saved = work.output / "variants" / f"{file_safe(label)}.json"
    try:
        config = work.config.updated({**values, **work.overrides}, {k: f"experiment strategy {label}" for k in values})
    except WorkbenchError as exc:
        return VariantResult(label, spec.strategy, values, Evaluation(work.spec.task, label, [], {}), error=str(exc))
    key = key_of(label, _settings_dump(config), spec.train_context, work.data.fingerprint)
    stored = read_json(saved) if saved.is_file() else {}
    if stored.get("key") == key and (work.output / stored["predictions"]).is_file():  # done before: reuse it
        rows = [json.loads(line) for line in (work.output / stored["predictions"]).read_text().splitlines()]
        for row in rows:  # the guard's verdict as of now
            row["leak"] = work.leaks.get(row["id"], [])
        return VariantResult(label, spec.strategy, values, Evaluation(work.spec.task, label, rows, summarize(work.spec.task, rows)),
                             stored["costs"])
    try:
        evaluation, costs = TASK_VARIANTS[work.spec.task](work, config, spec, label)
    except Cancelled:  # the job is being cancelled: stop the experiment, not just this variant
        raise
    except Exception as exc:  # noqa: BLE001 - a broken variant is a row with its error; the others still run
        return VariantResult(label, spec.strategy, values, Evaluation(work.spec.task, label, [], {}),
                             error=f"{type(exc).__name__}: {exc}")
    for row in evaluation.rows:
        row["leak"] = work.leaks.get(row["id"], [])
        compact(row)
    predictions = Path("predictions") / f"{file_safe(label)}.jsonl"
    write_jsonl(work.output / predictions, evaluation.rows)
    write_json(saved, {"key": key, "label": label, "strategy": spec.strategy, "settings": values, "costs": costs,
                       "predictions": str(predictions)})
    return VariantResult(label, spec.strategy, values, evaluation, costs)


def run_experiment(config: Config, smoke: bool = False, output: Path | None = None,
                   progress: ProgressCallback | None = None) -> tuple[list[VariantResult], Path]:
    """Every variant on the same items, then the report; returns (results, results folder)."""
    from workbench.experiments.report import write_report

    work = prepare(config, smoke, output, progress)
    first_only = smoke and work.spec.smoke.variants == "first"
    variants = [(spec, label, values) for spec in work.spec.strategies
                for label, values in spec.variants()[:1 if first_only else None]]
    done = start_stage(progress, "strategies", len(variants))
    results = []
    for spec, label, values in variants:
        results.append(run_variant(work, spec, label, values))
        write_report(work, results)  # the folder always shows every finished variant, even mid-run
        done.advance(1)
    return results, work.output
