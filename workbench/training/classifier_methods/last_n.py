from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.training.classifier_methods import ClassifierMethod, _backbone

if TYPE_CHECKING:
    from workbench.training.classifier import ClassifierOptions, TextClassifier


def configure(model: TextClassifier, options: ClassifierOptions) -> None:
    from workbench.models.bottleneck import transformer_blocks
    from workbench.runfolder import RunError

    blocks = transformer_blocks(model.backbone)
    if not 0 < options.last_n <= len(blocks):
        raise RunError(f"--last-n {options.last_n}: the backbone has {len(blocks)} blocks")
    blocks[-options.last_n:].requires_grad_(True)


METHOD = ClassifierMethod(
    name="last-n",
    description="last blocks: the head and the last N transformer blocks train (training.classifier.last_n)",
    configure=configure, save=_backbone.save, load=_backbone.load,
)
