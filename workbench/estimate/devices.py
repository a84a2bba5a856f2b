"""Where training and serving would run: memory, peak dense FLOP/s, memory bandwidth and a rough price.

GPU figures are the vendors' data-sheet numbers for dense (not sparse) 16-bit tensor math; prices are
rough on-demand cloud list prices per hour in USD (set yours with `estimate.price_per_hour`). The CPU
is this machine, measured: a matrix-multiply probe gives its FLOP/s, a copy probe its bandwidth.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

from workbench.errors import WorkbenchError
from workbench.estimate import DEVICE_NAMES

GB = 1e9  # bandwidth: vendors give decimal GB/s
GIB = 2**30  # memory: vendors' "80 GB" are 80 GiB (H200: 141 decimal GB)


@dataclass(frozen=True)
class Device:
    name: str
    memory_bytes: float
    peak_flops: float  # per second, dense, in the dtype training uses there
    bandwidth: float  # memory bytes per second
    price_per_hour: float
    utilisation: float  # share of `peak_flops` a finetuning step reaches (model FLOPs utilisation)
    dtype: str  # what training computes in there: float32 on CPU, bfloat16 (float16 on a T4)
    measured: bool = False  # peak_flops and bandwidth measured on this machine, not a data sheet


# Model FLOPs utilisation of finetuning steps on GPUs: 30-50 % is what published LoRA/full runs of
# 1-8B models reach (docs/estimate.md); 0.4 is the middle.
GPU_UTILISATION = 0.4
# On the CPU, the share of the matrix-multiply probe's FLOP/s a training step reaches; calibrated
# against `wb estimate --pilot` on the embedded model (bench/results/estimate.md).
CPU_UTILISATION = 0.74

GPUS = {
    "t4": Device("t4", 16 * GIB, 65e12, 320 * GB, 0.35, GPU_UTILISATION, "float16"),
    "a10": Device("a10", 24 * GIB, 125e12, 600 * GB, 1.0, GPU_UTILISATION, "bfloat16"),
    "l4": Device("l4", 24 * GIB, 121e12, 300 * GB, 0.8, GPU_UTILISATION, "bfloat16"),
    "a100-40gb": Device("a100-40gb", 40 * GIB, 312e12, 1555 * GB, 3.0, GPU_UTILISATION, "bfloat16"),
    "a100-80gb": Device("a100-80gb", 80 * GIB, 312e12, 2039 * GB, 3.5, GPU_UTILISATION, "bfloat16"),
    "h100": Device("h100", 80 * GIB, 989e12, 3350 * GB, 4.5, GPU_UTILISATION, "bfloat16"),
    "h200": Device("h200", 141 * GB, 989e12, 4800 * GB, 5.0, GPU_UTILISATION, "bfloat16"),
}


def get_device(name: str) -> Device:
    """A GPU from the table, or `cpu`: this machine, measured once per process."""
    if name == "cpu":
        return this_cpu()
    if name not in GPUS:
        raise WorkbenchError(f"unknown device '{name}' (choose from {', '.join(DEVICE_NAMES)})")
    return GPUS[name]


def gpu_named(cuda_name: str) -> str:
    """The table's entry for a CUDA device name ("NVIDIA H100 80GB HBM3" -> "h100")."""
    name = cuda_name.lower()
    if "a100" in name:
        return "a100-80gb" if "80gb" in name.replace(" ", "") else "a100-40gb"
    for key in ("h200", "h100", "l4", "a10", "t4"):  # "l40" and "a100" contain "l4" and "a10": taken above or unknown
        if key in name and not any(other in name for other in ("l40", "a100")):
            return key
    raise WorkbenchError(f"no figures for the GPU '{cuda_name}' (known: {', '.join(GPUS)})")


@functools.lru_cache(maxsize=1)
def this_cpu() -> Device:
    import psutil

    return Device("cpu", psutil.virtual_memory().total, _matmul_flops(), _copy_bandwidth(), 0.1, CPU_UTILISATION,
                  "float32", measured=True)


def _matmul_flops(size: int = 1024, seconds: float = 0.5) -> float:
    """float32 FLOP/s of square matrix multiplies, with torch's threads, as training runs them."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / elapsed


def _copy_bandwidth(n_bytes: int = 256 * 2**20, repeats: int = 4) -> float:
    """Bytes per second read and written by a large tensor copy."""
    source = torch.empty(n_bytes // 4)
    target = torch.empty_like(source)
    target.copy_(source)
    started = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    return 2 * n_bytes * repeats / (time.perf_counter() - started)
