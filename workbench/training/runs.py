"""What a trainer measures while it trains into a run folder (`workbench.runfolder`): wall time, peak
memory and parameter counts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import torch


@dataclass
class ResourceMeter:
    """Wall time and peak memory of a block: RSS sampled by a thread on CPU, the allocator's peak on CUDA."""

    interval: float = 0.05
    peak_rss: int = 0
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ResourceMeter:
        process = psutil.Process()
        self.peak_rss = process.memory_info().rss
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

        def sample() -> None:
            while not self._stop.wait(self.interval):
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.ended = time.perf_counter()

    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def report(self) -> dict[str, Any]:
        report = {"wall_seconds": round(self.elapsed(), 2), "peak_rss_bytes": self.peak_rss}
        if torch.cuda.is_available():
            report["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
        return report


def parameter_counts(model: torch.nn.Module) -> dict[str, Any]:
    """Trainable and total parameters, and the trainable share in percent (a 4-bit weight counted as the
    weights it holds, not as the bytes that pack them two by two)."""
    total = sum(weight_count(p) for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": trainable, "total_params": total,
            "trainable_percent": round(100 * trainable / total, 4) if total else 0.0}


def weight_count(parameter: torch.nn.Parameter) -> int:
    """The weights in `parameter`: a bitsandbytes 4-bit one records their shape in its `quant_state`."""
    quant_state = getattr(parameter, "quant_state", None)
    return quant_state.shape.numel() if quant_state is not None else parameter.numel()
