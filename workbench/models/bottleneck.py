"""Bottleneck adapters (Houlsby et al., 2019), which peft does not have, on any transformer.

After each block's MLP goes a small residual down-projection → nonlinearity → up-projection; the
up-projection starts at zero, so an adapted model starts out identical to its base model. peft 0.21
ships no such tuner (its `adaption_prompt` is LLaMA-Adapter, a different method), hence this module.

A block may carry several named adapters, of which one (or none) is active: training adds one named
`default`; serving loads several on the one shared base model and switches per request, like PEFT
adapters (workbench.generation.adapters).

Saved as `bottleneck.safetensors` (keys `<block>.<down|up>.<weight|bias>`) + `bottleneck_config.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, read_file, write_json

BOTTLENECK_WEIGHTS = "bottleneck.safetensors"
BOTTLENECK_CONFIG = "bottleneck_config.json"
DEFAULT = "default"


@dataclass(frozen=True)
class BottleneckSettings:
    size: int = 64
    base_model_name_or_path: str = ""


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
    """A block's MLP followed by its active bottleneck adapter (with none active: the plain MLP)."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.mlp = mlp
        self.adapters = nn.ModuleDict()
        self.active: str | None = None

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = self.mlp(x, *args, **kwargs)
        return out if self.active is None else self.adapters[self.active](out)


def _adapted_mlps(model: nn.Module) -> list[AdaptedMLP]:
    """Each block's MLP, wrapped in an `AdaptedMLP` the first time."""
    wrapped = []
    for block in transformer_blocks(model):
        if not hasattr(block, "mlp"):
            raise WorkbenchError(f"{type(block).__name__} has no `mlp` to put a bottleneck adapter after")
        if not isinstance(block.mlp, AdaptedMLP):
            block.mlp = AdaptedMLP(block.mlp)
        wrapped.append(block.mlp)
    return wrapped


def add_bottleneck(model: nn.Module, settings: BottleneckSettings, name: str = DEFAULT) -> list[Bottleneck]:
    """Insert adapter `name` after the MLP of every block and make it the active one; returns its
    layers (trainable, on the MLP's device and dtype). Freezing the rest is the caller's choice."""
    adapters = []
    for adapted in _adapted_mlps(model):
        if name in adapted.adapters:
            raise WorkbenchError(f"the model already has a bottleneck adapter named '{name}'")
        reference = next(adapted.mlp.parameters())
        adapter = Bottleneck(model.config.hidden_size, settings.size).to(reference.device, reference.dtype)
        adapted.adapters[name] = adapter
        adapted.active = name
        adapters.append(adapter)
    return adapters


def set_active_bottleneck(model: nn.Module, name: str | None) -> None:
    """Switch every block to adapter `name`, or to none (the base model's own output)."""
    for module in model.modules():
        if isinstance(module, AdaptedMLP):
            if name is not None and name not in module.adapters:
                raise WorkbenchError(f"no bottleneck adapter named '{name}' (loaded: {', '.join(module.adapters) or 'none'})")
            module.active = name


def save_bottleneck(model: nn.Module, folder: Path, settings: BottleneckSettings, name: str = DEFAULT) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"{i}.{key}": tensor.detach().contiguous().cpu()
             for i, block in enumerate(transformer_blocks(model))
             for key, tensor in block.mlp.adapters[name].state_dict().items()}
    save_file(state, folder / BOTTLENECK_WEIGHTS)
    write_json(folder / BOTTLENECK_CONFIG, asdict(settings))


def read_bottleneck_settings(folder: Path) -> BottleneckSettings:
    try:
        return read_file(folder / BOTTLENECK_CONFIG, BottleneckSettings)
    except (OSError, SchemaViolation) as exc:
        raise WorkbenchError(f"{folder / BOTTLENECK_CONFIG}: not a bottleneck adapter config ({exc})") from None


def load_bottleneck(model: nn.Module, folder: Path, name: str = DEFAULT) -> BottleneckSettings:
    """Add the adapter saved in `folder` to `model` (its base model) as `name`, active.

    A file that does not fit the model (another architecture, missing blocks) is a RuntimeError and
    leaves no adapter `name` behind."""
    settings = read_bottleneck_settings(folder)
    state = load_file(folder / BOTTLENECK_WEIGHTS)
    adapters = add_bottleneck(model, settings, name)
    try:
        if len({key.split(".", 1)[0] for key in state}) != len(adapters):
            raise RuntimeError(f"{len({key.split('.', 1)[0] for key in state})} adapted blocks saved, "
                               f"the model has {len(adapters)}")
        for i, adapter in enumerate(adapters):
            adapter.load_state_dict({key.split(".", 1)[1]: value for key, value in state.items()
                                     if key.split(".", 1)[0] == str(i)})
    except RuntimeError:
        for adapted in _adapted_mlps(model):
            del adapted.adapters[name]
            adapted.active = None
        raise
    return settings
