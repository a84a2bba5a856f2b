from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.models.methods import GeneratorMethod, _peft

if TYPE_CHECKING:
    from torch import nn

    from workbench.training.generator import GeneratorOptions


def apply(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    """`virtual_tokens` learned embeddings in front of the input, started from `prompt_init_text` when given."""
    import peft

    from workbench.models.registry import resolve

    text_init = {"prompt_tuning_init": "TEXT", "prompt_tuning_init_text": options.prompt_init_text,
                 "tokenizer_name_or_path": resolve(options.model, "generator")} if options.prompt_init_text else {}
    config = peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=options.virtual_tokens, **text_init)
    return _peft.wrap(model, config, options)


METHOD = GeneratorMethod(
    name="prompt-tuning",
    description="prompt tuning: learned virtual-token embeddings in front of every input (training.generator.virtual_tokens)",
    apply=apply, save=_peft.save, attach=_peft.attach, adapter_type="PROMPT_TUNING",
)
