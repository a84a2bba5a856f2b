"""What last-n and full save beside the head: the backbone tensors they trained, in one file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.training.classifier import ClassifierOptions, TextClassifier


def save(model: TextClassifier, folder: Path) -> list[Path]:
    from safetensors.torch import save_file

    from workbench.training.classifier import BACKBONE_FILE

    trained = {n: p.detach().contiguous() for n, p in model.backbone.named_parameters() if p.requires_grad}
    save_file(trained, folder / BACKBONE_FILE)
    return [folder / BACKBONE_FILE]


def load(model: TextClassifier, folder: Path, options: ClassifierOptions) -> None:
    from workbench.runfolder import RunError
    from workbench.training.classifier import BACKBONE_FILE, read_run_tensors

    path = folder / BACKBONE_FILE
    unexpected = model.backbone.load_state_dict(read_run_tensors(path), strict=False).unexpected_keys
    if unexpected:
        raise RunError(f"{path}: tensors {unexpected[:3]} do not fit backbone {options.backbone}")
