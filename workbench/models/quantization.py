"""4-bit base models for QLoRA: bitsandbytes' NF4 through transformers, kept trainable on every CPU."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import torch
from torch import nn

from workbench.errors import WorkbenchError


def nf4_config(device: torch.device, double_quant: bool) -> Any:
    """A transformers `BitsAndBytesConfig`: linear weights in 4-bit NF4, multiplied in float32 on a CPU
    and in bfloat16 on CUDA (QLoRA's compute dtype); with `double_quant`, their scales in 8 bits too."""
    from transformers import BitsAndBytesConfig

    if find_spec("bitsandbytes") is None:
        raise WorkbenchError("4-bit weights (QLoRA) need bitsandbytes: pip install 'workbench[qlora]'")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=torch.bfloat16 if device.type == "cuda" else torch.float32,
                              bnb_4bit_use_double_quant=double_quant)


def keep_training_layout(model: nn.Module) -> nn.Module:
    """Keep `model`'s 4-bit layers in their training layout: on a CPU with AVX512-BF16, bitsandbytes (0.50)
    repacks a `Linear4bit` evaluated without gradients (an evaluation between epochs, the forgetting
    probe) for a bfloat16 inference kernel that has no backward, and from then on no gradient passes
    through it, silently (tests/training/test_qlora.py). Unpacked, every forward dequantizes and
    multiplies in the compute dtype, with gradients or without."""
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
    return model
