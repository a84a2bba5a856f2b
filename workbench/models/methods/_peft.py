"""What the peft methods (lora, ia3, prompt-tuning, prefix-tuning) share: peft wraps the model, saves
RUN_DIR/adapter/ with `save_pretrained` and loads it with `PeftModel.from_pretrained`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.models.methods import ADAPTER_DIR

if TYPE_CHECKING:
    import torch
    from peft import PeftConfig
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def wrap(model: nn.Module, config: PeftConfig, options: GeneratorOptions) -> nn.Module:
    """`model` inside peft with `config`; the adapter records its base model by name, not a cache
    path, and a run built on another run by that run (it answers on that run's merged weights)."""
    import peft

    wrapped = peft.get_peft_model(model, config)
    wrapped.peft_config["default"].base_model_name_or_path = options.base_run or options.model
    return wrapped


def save(model: nn.Module, tokenizer: Any, options: GeneratorOptions, folder: Path,
         weights: dict[str, torch.Tensor] | None = None) -> Path:
    model.save_pretrained(folder / ADAPTER_DIR, save_embedding_layers=False, state_dict=weights)
    return folder / ADAPTER_DIR


def attach(model: nn.Module, folder: Path) -> nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(model, folder)
