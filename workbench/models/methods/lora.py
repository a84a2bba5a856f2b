from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.models.methods import GeneratorMethod, _peft

if TYPE_CHECKING:
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    from workbench.models.lora import lora_config

    return _peft.wrap(model, lora_config(options.lora, "CAUSAL_LM"), options)


METHOD = GeneratorMethod(
    name="lora",
    description="LoRA: low-rank updates beside the attention and MLP weights (training.lora)",
    apply=apply, save=_peft.save, attach=_peft.attach, adapter_type="LORA",
    can_merge=True,
    shares_batch=True,  # peft's mixed-adapter batches route each row through the LoRA adapter it names
    shardable=True,
)
