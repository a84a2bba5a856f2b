"""The classifier finetuning methods: one entry (`ClassifierMethod`) per method, one module per entry,
found like the generator methods (workbench.models.methods): a new method is one new file here.

Every method trains a linear head on a backbone (workbench.training.classifier); an entry says what
else trains, and what it saves beside the head and loads back. Importing this package loads no
torch (entries import it inside their functions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.models.methods import MethodRegistry

if TYPE_CHECKING:
    from workbench.training.classifier import ClassifierOptions, TextClassifier


def _nothing_else(model: TextClassifier, options: ClassifierOptions) -> None:
    """Only the head trains."""


def _saves_nothing(model: TextClassifier, folder: Path) -> list[Path]:
    return []


def _loads_nothing(model: TextClassifier, folder: Path, options: ClassifierOptions) -> None:
    pass


@dataclass(frozen=True)
class ClassifierMethod:
    """Everything about one way of training a classifier."""

    name: str  # `training.classifier.method`, `wb train classifier --method`
    description: str  # one line, for help texts and lists
    # make what trains beside the head trainable (the backbone comes frozen); may wrap `model.backbone`
    configure: Callable[[TextClassifier, ClassifierOptions], None] = _nothing_else
    # write what trained beside the head into the run folder; returns the files or folders written
    save: Callable[[TextClassifier, Path], list[Path]] = _saves_nothing
    # put what `save` wrote back on a fresh classifier of the run's shape
    load: Callable[[TextClassifier, Path, ClassifierOptions], None] = _loads_nothing
    # False: the head is fitted once by logistic regression on embeddings computed once, not by gradient steps
    gradient: bool = True


_CLASSIFIER_METHODS: MethodRegistry[ClassifierMethod] = MethodRegistry("classifier method", __name__)


def classifier_method(name: str) -> ClassifierMethod:
    """The entry of method `name`; an unknown name is a `WorkbenchError` listing the known ones."""
    return _CLASSIFIER_METHODS.get(name)


def classifier_method_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in _CLASSIFIER_METHODS.entries())
