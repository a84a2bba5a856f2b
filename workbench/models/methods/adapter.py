"""Bottleneck adapters (workbench.models.bottleneck: peft has none), saved as RUN_DIR/adapter/bottleneck.*"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.models.methods import ADAPTER_DIR, GeneratorMethod

if TYPE_CHECKING:
    from torch import nn

    from workbench.models.bottleneck import BottleneckSettings
    from workbench.training.generator import GeneratorOptions


def settings(options: GeneratorOptions) -> BottleneckSettings:
    from workbench.models.bottleneck import BottleneckSettings

    return BottleneckSettings(options.bottleneck_size, options.base_run or options.model)


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    from workbench.models.bottleneck import add_bottleneck

    model.requires_grad_(False)
    add_bottleneck(model, settings(options))
    return model


def save(model: nn.Module, tokenizer: Any, options: GeneratorOptions, folder: Path, weights: None = None) -> Path:
    """(Not `shardable`: never given `weights`.)"""
    from workbench.models.bottleneck import save_bottleneck

    save_bottleneck(model, folder / ADAPTER_DIR, settings(options))
    return folder / ADAPTER_DIR


def attach(model: nn.Module, folder: Path) -> nn.Module:
    from workbench.models.bottleneck import load_bottleneck

    load_bottleneck(model, folder)
    return model


METHOD = GeneratorMethod(
    name="adapter",
    description="bottleneck adapters: a small residual MLP after each block's MLP (training.generator.bottleneck_size)",
    apply=apply, save=save, attach=attach,
    adapter_type="BOTTLENECK",  # what workbench.models.adapter_files reads from a bottleneck_config.json folder
)
