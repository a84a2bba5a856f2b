from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.models.methods import GeneratorMethod, _peft

if TYPE_CHECKING:
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    import peft

    return _peft.wrap(model, peft.IA3Config(task_type="CAUSAL_LM"), options)


METHOD = GeneratorMethod(
    name="ia3",
    description="IA3: learned scaling vectors on the attention keys, values and MLP activations",
    apply=apply, save=_peft.save, attach=_peft.attach, adapter_type="IA3",
    can_merge=True, shardable=True,
)
