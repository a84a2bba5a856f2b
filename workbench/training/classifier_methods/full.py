from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.training.classifier_methods import ClassifierMethod, _backbone

if TYPE_CHECKING:
    from workbench.training.classifier import ClassifierOptions, TextClassifier


def configure(model: TextClassifier, options: ClassifierOptions) -> None:
    model.backbone.requires_grad_(True)


METHOD = ClassifierMethod(
    name="full",
    description="all layers: every parameter of the backbone and the head trains",
    configure=configure, save=_backbone.save, load=_backbone.load,
)
