"""A preference variant: each held-out prompt answered greedily, the reply judged against the base
model's by the experiment's reward model (trained on the training pairs, one judge for every variant),
the likelihood margin of chosen over rejected gained over the base, and ROUGE-L against the chosen
response. `finetuned` trains with `training.generator.method`: lora is SFT on the chosen responses,
dpo and rloo tune on the pairs (rloo against the same reward model)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.corpus import QAPair
from workbench.evaluation.evaluator import Evaluation, evaluate
from workbench.evaluation.qa import answer_details
from workbench.experiments.cache import (
    adapter_of,
    answer_costs,
    ensure_run,
    key_of,
    run_costs,
    settings_dump,
    untrained_costs,
)
from workbench.experiments.outputs import read_output
from workbench.experiments.workspace import Workspace
from workbench.ondisk import write_json

if TYPE_CHECKING:  # judging imports peft and the trainers: loaded only when a preference variant runs
    from workbench.preference.judging import BaseSide


def evaluate_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    from workbench.preference.judging import judge
    from workbench.strategies import StrategyFactory, StrategyOptions

    records = _preference_records(work.data.train)
    judge_run = ensure_run(work, work.config, "reward", records, {})  # the experiment's settings: one judge for all
    costs = untrained_costs()
    adapters: tuple[str, ...] = ()
    run = None
    if spec.strategy == "finetuned":
        config, run = _tuned(work, config, records, judge_run)
        costs.update(run_costs(run))
        adapters = adapter_of(run)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters, whole_replies=True), default_pool=[],
                              models=work.models)
    answers = factory.build(spec.strategy)[0].answer_many(work.data.test, progress=work.progress)
    replies = [a.raw_text.strip() for a in answers]
    judged = judge(config, judge_run, work.data.test, replies, run, _base_side(work, config))
    evaluation = evaluate("preference", label, [p.id for p in work.data.test], replies,
                          [p.answers[0] for p in work.data.test],
                          extras=[{**scores, **answer_details(a)} for scores, a in zip(judged, answers)])
    return evaluation, {**costs, **answer_costs(answers)}


def _preference_records(pairs: list[QAPair]) -> list[dict]:
    return [{"prompt": p.question, "chosen": p.answers[0], "rejected": p.answers[1]} for p in pairs]


def _tuned(work: Workspace, config: Config, records: list[dict], judge_run: Path) -> tuple[Config, Path]:
    """The generator trained on the training pairs (a preference method, with the judge as its reward
    model), or by supervised finetuning on the preferred responses; with the config it was trained under."""
    from workbench.preference import PREFERENCE_METHODS

    if config.training.generator.method in PREFERENCE_METHODS:
        config = config.updated({"training.preference.reward_run": str(judge_run)})
        return config, ensure_run(work, config, "generator", records, work.general_request)
    sft = [{"instruction": r["prompt"], "input": "", "output": r["chosen"]} for r in records]
    return config, ensure_run(work, config, "generator", sft, {"format": "instruction", **work.general_request})


def _base_side(work: Workspace, config: Config) -> BaseSide:
    """The base model's replies and gaps on the held-out items, computed once and cached for every
    variant (and every rerun) under the settings they depend on."""
    from workbench.preference.judging import BaseSide, base_side

    settings = settings_dump(config)
    key = key_of(settings["generation"], settings["models"], config.training.preference.max_length, work.data.fingerprint)
    cached = work.cache / f"preference-base-{key}.json"
    if cached.is_file():
        return read_output(cached, BaseSide)
    side = base_side(config, work.data.test, work.models)
    write_json(cached, side.model_dump())
    return side
