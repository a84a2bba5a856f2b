"""A QA variant: the strategy answers each held-out question, scored against its gold answers."""

from __future__ import annotations

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.evaluation.evaluator import Evaluation
from workbench.experiments.cache import (
    answer_costs,
    ensure_index,
    finetuned_generator,
    training_example,
    untrained_costs,
)
from workbench.experiments.workspace import Workspace


def evaluate_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    """The index is built when the strategy retrieves (or trains on retrieved context), the generator
    trained on the training items (with their context, as `spec.train_context` says) when finetuned."""
    from workbench.evaluation.qa import evaluate_answers
    from workbench.strategies import StrategyFactory, StrategyOptions
    from workbench.strategies.factory import STRATEGIES

    name = spec.strategy
    costs = untrained_costs()
    index = None
    if STRATEGIES[name].retrieves or spec.train_context == "retrieved":
        index, costs["setup_seconds"] = ensure_index(work, config)
    adapters: tuple[str, ...] = ()
    if STRATEGIES[name].finetuned:
        examples = [{**training_example(p), "context": p.context, "doc_id": p.doc_id} for p in work.data.train]
        adapters = finetuned_generator(work, config, examples, costs, spec.train_context, index)
    factory = StrategyFactory(config, StrategyOptions(index=index, adapters=adapters), default_pool=work.data.train,
                              models=work.models)
    answers = factory.build(name)[0].answer_many(work.data.test, progress=work.progress)
    return evaluate_answers(label, work.data.test, answers), {**costs, **answer_costs(answers)}
