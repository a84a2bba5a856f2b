"""QLoRA: LoRA on a base model whose frozen linear weights are stored in 4 bits (NF4, bitsandbytes).

Training is LoRA's (`training.lora`) on the quantized base: the blocks' linear layers keep about half
a byte per weight instead of four and dequantize them at every forward and backward, multiplying in
float32 on a CPU and in bfloat16 on CUDA (QLoRA's compute dtype). Embeddings, norms and the output
layer stay float32, as in every run of workbench, so peft's `prepare_model_for_kbit_training` (which
upcasts 16-bit ones and turns on reentrant checkpointing, where `apply_method` turns on its own) has
nothing to do here: bench/results/qlora.md measures it.

The adapter folder is a peft LoRA folder (its `peft_type` is LORA), so the `lora` entry loads it:
a finished run answers on the float32 base, like a LoRA run, and shares its batches, merges and
exports as one (docs/training.md says why, and what it costs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.models.methods import GeneratorMethod, _peft, lora

if TYPE_CHECKING:
    import torch

    from workbench.training.generator import GeneratorOptions


def quantization(options: GeneratorOptions, device: torch.device) -> Any:
    from workbench.models.quantization import nf4_config

    return nf4_config(device, options.double_quant)


METHOD = GeneratorMethod(
    name="qlora",
    description="QLoRA: LoRA on the base model loaded in 4 bits (NF4; training.lora, training.qlora)",
    apply=lora.apply, save=_peft.save, attach=_peft.attach,
    adapter_type=None,  # its folders are LoRA folders: the `lora` entry loads them (on the float32 base)...
    can_merge=True, shares_batch=True,  # ...and they merge and share batches as LoRA adapters do
    quantization=quantization,
)
