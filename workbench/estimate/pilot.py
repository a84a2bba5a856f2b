"""`wb estimate --pilot N`: N real training steps of the estimated setting on this machine, measured.

The steps run through `train_generator`, the trainer `wb train generator` uses, on synthetic examples
padded to exactly `training.generator.max_length` tokens with `estimate.completion_tokens` of them
learned, so the measured step is the step the estimate describes. Step time is the median between
consecutive steps (the first, which warms up, is left out); memory is the peak above what the process
held before the model loaded: resident memory (RSS) on a CPU, `torch.cuda.max_memory_allocated` on CUDA.
On Linux the RSS peak is the kernel's own (VmHWM, reset when the pilot starts), exact however short the
peak; elsewhere it is sampled every 50 ms by the trainer and can miss a short one.
On a CPU, RSS also holds freed memory glibc keeps in a fragmented heap unless the process started with
`MALLOC_MMAP_THRESHOLD_=1048576` (docs/estimate.md); the result says which, and so does the memory row
of the comparison: such a figure is no measure of the estimate (0.68 for a setting where the live tensors
give 0.95, bench/results/estimate.md).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from workbench.errors import WorkbenchError
from workbench.estimate.architecture import METHODS
from workbench.estimate.estimator import Setting
from workbench.progress import ProgressCallback, ProgressUpdate

FILLER = " the"  # one token in SmolLM2's, Llama's and Qwen's vocabularies
# Set in the environment of a CPU pilot, glibc maps every allocation of 1 MiB or more on its own and
# returns it when freed: RSS then follows the live tensors, which is what the estimate counts.
TENSORS_ONLY = "MALLOC_MMAP_THRESHOLD_"
PROC_STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Pilot:
    steps: int
    seconds_per_step: float
    peak_memory: int
    memory_source: str  # "rss" (CPU) or "cuda" (max_memory_allocated)
    device: str  # where it ran: "cpu" or the CUDA device's name
    labelled_tokens: int  # learned tokens per sequence, as tokenized
    heap_kept: bool  # CPU RSS includes freed memory glibc keeps (MALLOC_MMAP_THRESHOLD_ not set): docs/estimate.md


def run_pilot(setting: Setting, steps: int, progress: ProgressCallback | None = None) -> Pilot:
    """Train `steps` steps (at least 3: `EstimateRequest` checks) of `setting` here; the estimate to compare with is that of the
    same setting on the device it ran on, with `Pilot.labelled_tokens` learned."""
    from workbench.models import resolve_device
    from workbench.training.generator import train_generator

    method = METHODS[setting.method].as_generator_method
    if method is None or setting.objective != "sft":
        raise WorkbenchError(f"the pilot runs workbench's trainer, which trains {setting.method} "
                             f"{'with DPO ' if setting.objective != 'sft' else ''}nowhere yet: estimate it without --pilot")
    options = setting.generator_options
    options = dataclasses.replace(
        options, pad_to_max_length=True, eval_generate=0,
        loop=dataclasses.replace(options.loop, batch_size=setting.batch_size, epochs=1, max_steps=steps, checkpoint_every=0))
    examples, labelled = _examples(setting, options.model, steps)
    step_times: list[float] = []

    def timed(update: ProgressUpdate) -> None:
        if update.stage == "training":
            step_times.append(time.perf_counter())
        if progress is not None:
            progress(update)

    device = resolve_device(options.loop.device)
    exact = _reset_peak_rss()
    baseline = psutil.Process().memory_info().rss
    with tempfile.TemporaryDirectory(prefix="wb-pilot-") as folder:
        run = train_generator(examples, options, Path(folder) / "run", eval_examples=examples[:1],
                              source="pilot examples", progress=timed)
        summary = run.summary()
    if device.type == "cuda":
        peak, source, name = summary["peak_cuda_bytes"], "cuda", torch.cuda.get_device_name(device)
    else:
        peak_rss = max(_peak_rss() or 0, summary["peak_rss_bytes"]) if exact else summary["peak_rss_bytes"]
        peak, source, name = peak_rss - baseline, "rss", "cpu"
    seconds = statistics.median(b - a for a, b in zip(step_times, step_times[1:]))
    heap_kept = source == "rss" and TENSORS_ONLY not in os.environ
    return Pilot(summary["steps"], seconds, peak, source, name, labelled, heap_kept)


def _reset_peak_rss() -> bool:
    """Reset the kernel's record of this process's peak RSS to the RSS now (Linux 4.0+); False where it cannot."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _peak_rss() is not None


def _peak_rss() -> int | None:
    """The process's peak RSS since the last reset, in bytes, as the kernel counted it (VmHWM)."""
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _examples(setting: Setting, model: str, steps: int) -> tuple[list, int]:
    """Enough prompt–completion pairs for `steps` batches, each as long as the window with
    `completion_tokens` learned: the prompt fills what the completion and the chat template leave.
    Returns them and the number of tokens each has learned."""
    from workbench.models.prompt_format import load_tokenizer
    from workbench.models.registry import resolve
    from workbench.training.data import IGNORE_INDEX, tokenize_completions
    from workbench.training.examples import PromptCompletion, chat_messages

    # the tokenizer as the trainer loads it: a base model (Gemma 3) is prompted in the completion format
    tokenizer = load_tokenizer(resolve(model, "generator"), model)
    completion = FILLER.strip() + FILLER * (setting.completion_tokens - 2)  # the end of turn is learned too

    def example(prompt_tokens: int) -> PromptCompletion:
        return PromptCompletion(chat_messages("", FILLER.strip() + FILLER * (prompt_tokens - 1)), completion)

    probe, _ = tokenize_completions([example(1)], tokenizer, 10**6)
    room = setting.seq_len - len(probe[0]["input_ids"]) + 1
    if room < 1:
        raise WorkbenchError(f"training.generator.max_length={setting.seq_len} leaves no room for a prompt beside "
                             f"{setting.completion_tokens} completion tokens; lower estimate.completion_tokens")
    labelled = sum(label != IGNORE_INDEX for label in probe[0]["labels"])
    return [example(room)] * (setting.batch_size * steps), labelled


@dataclass(frozen=True)
class Comparison:
    figure: str
    estimated: float
    measured: float
    how: str  # "measured" here, "extrapolated" to another device by the FLOP ratio, or "measured with glibc's heap"

    @property
    def ratio(self) -> float:
        """Estimate over measurement: 1.0 is exact, 1.25 a quarter too high."""
        return self.estimated / self.measured if self.measured else float("nan")


def compare_with_pilot(setting: Setting, pilot: Pilot) -> list[Comparison]:
    """The pilot's step time and peak memory beside the estimate of the same step on the machine it
    ran on (workbench's trainer computes in float32 there); when `setting` is for another device, the
    measured step time is also extrapolated to it by the ratio of effective FLOP/s."""
    from workbench.estimate.devices import get_device, gpu_named
    from workbench.estimate.estimator import estimate

    ran_on = get_device("cpu" if pilot.memory_source == "rss" else gpu_named(pilot.device))
    utilisation = setting.utilisation if ran_on.name == setting.device else ran_on.utilisation
    here = estimate(dataclasses.replace(setting, device=ran_on.name, dtype="float32", utilisation=utilisation,
                                        completion_tokens=pilot.labelled_tokens))
    rows = [Comparison("seconds per step", here.seconds_per_step, pilot.seconds_per_step, "measured"),
            Comparison("peak memory (bytes)", here.peak_memory, pilot.peak_memory,
                       "measured with glibc's heap" if pilot.heap_kept else "measured")]
    if ran_on.name != setting.device:
        target = get_device(setting.device)
        scale = (ran_on.peak_flops * utilisation) / (target.peak_flops * setting.utilisation)
        there = estimate(dataclasses.replace(setting, completion_tokens=pilot.labelled_tokens))
        rows.append(Comparison(f"seconds per step on {target.name}", there.seconds_per_step,
                               pilot.seconds_per_step * scale, "extrapolated"))
    return rows
