"""Pick where models run: CUDA in bfloat16 when present, else CPU in float32; overridable."""

from __future__ import annotations

import os

import torch

from workbench.errors import WorkbenchError


def resolve_device(preference: str = "auto") -> torch.device:
    """`auto` picks CUDA when available (with several training processes on a machine, each its own GPU:
    LOCAL_RANK, set by torchrun); `cpu`, `cuda` or `cuda:N` force a device."""
    if preference == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise WorkbenchError(f"unknown device '{preference}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WorkbenchError(f"device '{preference}' requested but CUDA is not available on this machine")
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on GPUs that support it (half the memory, same range as float32), else float32."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
