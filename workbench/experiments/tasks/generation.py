"""A generation variant (summaries, instruction responses): the generator's whole reply against the
references. The strategies' short-answer clean-up (first line only, ...) is for QA: here the raw reply
is scored."""

from __future__ import annotations

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.evaluation.evaluator import Evaluation, evaluate
from workbench.evaluation.qa import answer_details
from workbench.experiments.cache import answer_costs, finetuned_generator, training_example, untrained_costs
from workbench.experiments.workspace import Workspace


def evaluate_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    from workbench.strategies import StrategyFactory, StrategyOptions

    costs = untrained_costs()
    adapters: tuple[str, ...] = ()
    if spec.strategy == "finetuned":
        adapters = finetuned_generator(work, config, [training_example(p) for p in work.data.train], costs)
    factory = StrategyFactory(config, StrategyOptions(adapters=adapters, whole_replies=True), default_pool=work.data.train,
                              models=work.models)
    answers = factory.build(spec.strategy)[0].answer_many(work.data.test, progress=work.progress)
    evaluation = evaluate("generation", label, [p.id for p in work.data.test], [a.raw_text.strip() for a in answers],
                          [list(p.answers) for p in work.data.test], extras=[answer_details(a) for a in answers])
    return evaluation, {**costs, **answer_costs(answers)}
