"""Parameter-efficient adapters: peft's LoRA settings, and a bottleneck adapter peft does not have.

The bottleneck adapter (Houlsby et al., 2019) adds after each block's MLP a small residual
down-projection → nonlinearity → up-projection; the up-projection starts at zero so the adapted
model starts out identical to the base model. peft 0.21 ships no such tuner (its `adaption_prompt`
is LLaMA-Adapter, a different method), hence this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from workbench.errors import WorkbenchError

BOTTLENECK_WEIGHTS = "bottleneck.safetensors"
BOTTLENECK_CONFIG = "bottleneck_config.json"


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture


def lora_config(settings: LoraSettings, task_type: str | None):
    from peft import LoraConfig

    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=list(settings.target_modules) if settings.target_modules else None,
                      task_type=task_type)


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks: the longest `ModuleList` in the model (BERT, Llama, GPT-2, ...)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise WorkbenchError(f"cannot find the transformer blocks of {type(model).__name__}")
    return max(lists, key=len)


class Bottleneck(nn.Module):
    """x + up(act(down(x))), with `up` zero-initialised."""

    def __init__(self, hidden: int, size: int):
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.up = nn.Linear(size, hidden)
        self.act = nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


class AdaptedMLP(nn.Module):
    """A block's MLP followed by its bottleneck adapter."""

    def __init__(self, mlp: nn.Module, adapter: Bottleneck):
        super().__init__()
        self.mlp, self.adapter = mlp, adapter

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.adapter(self.mlp(x, *args, **kwargs))


@dataclass(frozen=True)
class BottleneckSettings:
    size: int = 64
    base_model_name_or_path: str = ""


def add_bottleneck_adapters(model: nn.Module, settings: BottleneckSettings) -> list[Bottleneck]:
    """Insert an adapter after the MLP of every block, freeze everything else; returns the adapters."""
    for param in model.parameters():
        param.requires_grad_(False)
    hidden = model.config.hidden_size
    adapters = []
    for block in transformer_blocks(model):
        if not hasattr(block, "mlp"):
            raise WorkbenchError(f"{type(block).__name__} has no `mlp` to put a bottleneck adapter after")
        adapter = Bottleneck(hidden, settings.size).to(next(block.mlp.parameters()).device,
                                                       next(block.mlp.parameters()).dtype)
        block.mlp = AdaptedMLP(block.mlp, adapter)
        adapters.append(adapter)
    return adapters


def save_bottleneck(model: nn.Module, folder: Path, settings: BottleneckSettings) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"{i}.{name}": tensor.detach().contiguous().cpu()
             for i, block in enumerate(transformer_blocks(model))
             for name, tensor in block.mlp.adapter.state_dict().items()}
    save_file(state, folder / BOTTLENECK_WEIGHTS)
    (folder / BOTTLENECK_CONFIG).write_text(json.dumps(asdict(settings), indent=2))


def load_bottleneck(model: nn.Module, folder: Path) -> nn.Module:
    """Add the adapters saved in `folder` to `model` (the same base model) and load their weights."""
    settings = BottleneckSettings(**json.loads((folder / BOTTLENECK_CONFIG).read_text()))
    add_bottleneck_adapters(model, settings)
    state = load_file(folder / BOTTLENECK_WEIGHTS)
    for i, block in enumerate(transformer_blocks(model)):
        block.mlp.adapter.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == str(i)})
    return model
