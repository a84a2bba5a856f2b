"""One evaluator per experiment task: each builds a variant's strategy (training or reusing what it
needs), answers the held-out items and scores them, returning the evaluation and the variant's costs."""

from __future__ import annotations

from collections.abc import Callable

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.evaluation.evaluator import Evaluation
from workbench.experiments.tasks import classification, generation, preference, qa
from workbench.experiments.workspace import Workspace

TaskEvaluator = Callable[[Workspace, Config, StrategySpec, str], tuple[Evaluation, dict]]

TASK_VARIANTS: dict[str, TaskEvaluator] = {
    "qa": qa.evaluate_variant,
    "classification": classification.evaluate_variant,
    "generation": generation.evaluate_variant,
    "preference": preference.evaluate_variant,
}
