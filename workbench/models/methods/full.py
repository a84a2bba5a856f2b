"""Every weight trains; the run saves a complete model (RUN_DIR/model/), which loads without its base model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.models.methods import MODEL_DIR, GeneratorMethod

if TYPE_CHECKING:
    import torch
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    return model.requires_grad_(True)


def save(model: nn.Module, tokenizer: Any, options: GeneratorOptions, folder: Path,
         weights: dict[str, torch.Tensor] | None = None) -> Path:
    model.save_pretrained(folder / MODEL_DIR, state_dict=weights)
    tokenizer.save_pretrained(folder / MODEL_DIR)
    return folder / MODEL_DIR


METHOD = GeneratorMethod(
    name="full",
    description="full finetuning: every weight trains, the run saves a complete model",
    apply=apply, save=save, shardable=True,
)
