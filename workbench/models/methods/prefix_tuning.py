from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.models.methods import GeneratorMethod, _peft

if TYPE_CHECKING:
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    import peft

    return _peft.wrap(model, peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=options.virtual_tokens),
                      options)


METHOD = GeneratorMethod(
    name="prefix-tuning",
    description="prefix tuning: learned keys and values in every attention layer (training.generator.virtual_tokens)",
    apply=apply, save=_peft.save, attach=_peft.attach, adapter_type="PREFIX_TUNING",
    checkpointing=False,  # peft refuses it: the prefix lives in the attention cache
)
