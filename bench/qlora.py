"""QLoRA against LoRA on SmolLM2-135M-Instruct, on this CPU → bench/results/qlora.md (+ qlora.json).

The same data (the demo QA pairs `wb train generator --demo` trains on, every batch padded to
`max_length`), the same LoRA (training.lora) and the same steps for both; only the base model differs:
float32 (`lora`) or its blocks' linear weights in 4-bit NF4 (`qlora`). Beside each figure, `wb
estimate`'s for the same setting on this CPU.

- memory: each method trains in a process of its own (a process's peak RSS never goes down); peak RSS
  as the trainer's `ResourceMeter` samples it, and the peak of its anonymous part (RssAnon: memory
  that is the process's own, not pages of a mapped file, which the kernel can drop); the weights'
  bytes are counted tensor by tensor on the loaded model (also without double quantization);
- step time: one process loads both models and alternates their steps (forward and backward of the
  same batch, one torch thread), so that both see the same load on these shared cores; the ratio is the median of the
  rounds' ratios. Run while the load was above `MAX_LOAD`, it is repeated (up to `ATTEMPTS` times; the
  attempt under the lowest load is reported, with the load noted);
- quality: each adapter's held-out loss on the base it trained on and on the float32 base (a QLoRA
  run answers on the float32 base: docs/training.md), and what peft's `prepare_model_for_kbit_training`
  would change on the 4-bit model as workbench loads it.

Usage: .venv/bin/python bench/qlora.py [--quick]   (--quick: fewer steps and rounds, a smoke run)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.config import load_config  # noqa: E402
from workbench.corpus import load_demo_corpus  # noqa: E402
from workbench.models import GENERATOR  # noqa: E402
from workbench.training.examples import qa_examples  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "qlora.md"
METHODS = ("lora", "qlora")
# the demo adapter's data (question → answer, 46-68 tokens each), every batch padded to 72 tokens; 12 steps, as
# the demo adapter trains
SETTINGS = {"pairs": 128, "eval_pairs": 48, "batch_size": 8, "max_length": 72, "steps": 12, "learning_rate": 1e-3,
            "rounds": 5}
QUICK = {**SETTINGS, "steps": 3, "eval_pairs": 4, "rounds": 2}
MAX_LOAD = 3.0  # 1-minute load average on these 2 cores above which the timing is repeated
ATTEMPTS = 2
# Torch threads, here and in every measured process: with 2 threads on 2 cores that other sessions also
# use, each parallel region waits for a thread the system has paused, and a step took 7-15 times longer
# (2026-12-03, load 3); one thread only slows down in proportion to the load.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def bench_config(method: str, settings: dict[str, Any], double_quant: bool = True):
    return load_config().updated({
        "models.generator": GENERATOR, "models.device": "cpu", "training.seed": 42, "training.checkpoint_every": 0,
        "training.generator.method": method, "training.generator.epochs": 1,
        "training.generator.batch_size": settings["batch_size"], "training.generator.max_length": settings["max_length"],
        "training.generator.learning_rate": settings["learning_rate"], "training.max_steps": settings["steps"],
        "training.generator.eval_generate": 0, "training.qlora.double_quant": double_quant,
        "estimate.method": method, "estimate.device": "cpu"})


def options_for(method: str, settings: dict[str, Any], double_quant: bool = True):
    from workbench.training.generator import GeneratorOptions

    options = GeneratorOptions.from_config(bench_config(method, settings, double_quant))
    return dataclasses.replace(options, pad_to_max_length=True)  # every step the same shape


def examples(settings: dict[str, Any]) -> tuple[list, list]:
    system = load_config().generation.system_prompt
    pairs = load_demo_corpus().qa_pairs
    return (qa_examples(pairs[:settings["pairs"]], system),
            qa_examples(pairs[settings["pairs"]:settings["pairs"] + settings["eval_pairs"]], system))


# ---- measured in processes of their own -------------------------------------------------------------


class AnonymousPeak:
    """The peak of RssAnon (/proc/self/status) while the block runs, sampled like `ResourceMeter`'s RSS."""

    def __enter__(self) -> AnonymousPeak:
        self.peak, self._stop = self.now(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    @staticmethod
    def now() -> int:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("RssAnon:"))
        return int(line.split()[1]) * 1024


def tensor_bytes(model: Any) -> int:
    """Bytes of every tensor the model stores, each storage once (tied weights; a 4-bit layer's packed
    weights and its quantization constants, which its state dict lists)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in model.state_dict().values()}
    return sum(storages.values())


def upcast_by_prepare(model: Any) -> dict[str, int]:
    """What peft's `prepare_model_for_kbit_training` changes: parameters whose dtype it changes, and the bytes added."""
    import peft

    before = {name: (p.dtype, p.numel() * p.element_size()) for name, p in model.named_parameters()}
    peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    changed = {name: p.numel() * p.element_size() for name, p in model.named_parameters() if p.dtype != before[name][0]}
    return {"parameters": len(changed), "bytes": sum(size - before[name][1] for name, size in changed.items())}


def train_one(method: str, settings: dict[str, Any], output: Path) -> dict[str, Any]:
    """Train `method` as `wb train generator` does; then the model's bytes and the adapter's held-out losses."""
    import psutil

    from workbench.training.data import tokenize_completions
    from workbench.training.generator import (
        attach_adapter,
        completion_loss,
        load_starting_point,
        load_trained_generator,
        train_generator,
    )

    train, held_out = examples(settings)
    options = options_for(method, settings)
    rss_before = psutil.Process().memory_info().rss
    with AnonymousPeak() as anonymous:
        run = train_generator(train, options, output, held_out, source="demo QA pairs")
    summary = run.summary()
    # after the measured run: the model as the run loaded it, and the adapter's held-out loss on it
    model, tokenizer = load_starting_point(options)
    tokenized, _ = tokenize_completions(held_out, tokenizer, options.max_length)
    result = {"peak_rss": summary["peak_rss_bytes"], "rss_rise": summary["peak_rss_bytes"] - rss_before,
              "peak_anonymous": anonymous.peak, "weight_bytes": tensor_bytes(model),
              "trainable_params": summary["trainable_params"], "total_params": summary["total_params"],
              "adapter_bytes": summary["saved_bytes"], "steps": summary["steps"],
              "first_loss": run.curve()[0][1], "last_loss": run.curve()[-1][1]}
    untuned = completion_loss(model, tokenized, tokenizer.pad_token_id)
    if method == "qlora":
        result["prepare_model_for_kbit_training"] = upcast_by_prepare(model)
    trained = completion_loss(attach_adapter(model, run.path / "adapter", options.model), tokenized, tokenizer.pad_token_id)
    del model
    if method == "qlora":
        result["weight_bytes_single_quant"] = tensor_bytes(load_starting_point(options_for(method, settings, False))[0])
    answering = load_trained_generator(run.path, "cpu")  # what the finetuned strategies load: the float32 base
    result["eval_loss"] = {"untuned, training base": untuned, "trained, training base": trained,
                           "trained, float32 base": completion_loss(answering.model, tokenized, tokenizer.pad_token_id)}
    return result


def time_steps(settings: dict[str, Any]) -> dict[str, Any]:
    """Both models in one process, their steps alternated: seconds per step (forward and backward of one
    padded batch, after a first warm-up round) and the median of the rounds' QLoRA / LoRA ratios."""
    from workbench.training.data import pad_batch, tokenize_completions
    from workbench.training.generator import apply_method, completion_token_loss, load_starting_point

    models, batch = {}, None
    for method in METHODS:
        options = options_for(method, settings)
        model, tokenizer = load_starting_point(options)
        models[method] = apply_method(model, options).train()
        tokenized, _ = tokenize_completions(examples(settings)[0][:settings["batch_size"]], tokenizer, options.max_length)
        batch = pad_batch(tokenized, tokenizer.pad_token_id, options.max_length)
    seconds: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(settings["rounds"] + 1):
        for method, model in models.items():
            started = time.perf_counter()
            total, count = completion_token_loss(model, batch)
            (total / count).backward()  # the training loss: per learned token
            seconds[method].append(time.perf_counter() - started)
            model.zero_grad(set_to_none=True)
    rounds = {method: times[1:] for method, times in seconds.items()}
    return {"seconds_per_step": {method: statistics.median(times) for method, times in rounds.items()},
            "ratio": statistics.median(q / lo for q, lo in zip(rounds["qlora"], rounds["lora"])), "rounds": rounds}


def in_own_process(task: list[Any]) -> dict[str, Any]:
    """Run `task` in a fresh interpreter; its result and the 1-minute load average before and after."""
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--one", json.dumps(task)], env={**os.environ, **THREADS},
                          stdout=subprocess.PIPE, text=True, check=True)
    return {**json.loads(done.stdout.splitlines()[-1]), "load": round(max(load, os.getloadavg()[0]), 2)}


def run_task(task: list[Any]) -> dict[str, Any]:
    if task[0] == "train":
        return train_one(task[1], task[2], Path(task[3]))
    return time_steps(task[1])


# ---- the estimate and the report ---------------------------------------------------------------------


def estimated(settings: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
    """`wb estimate`'s figures for both methods, on this CPU as measured at one thread (`THREADS`)."""
    import torch

    from workbench.estimate.estimator import Setting, estimate

    torch.set_num_threads(int(THREADS["OMP_NUM_THREADS"]))
    figures = {}
    for method in METHODS:
        config = bench_config(method, settings).updated({"estimate.completion_tokens": completion_tokens})
        result = estimate(Setting.from_config(config))
        figures[method] = {"peak_memory": result.peak_memory, "weight_bytes": result.memory["weights"],
                           "seconds_per_step": result.seconds_per_step, "trainable_params": result.parameters.trainable,
                           "adapter_bytes": result.serving.per_task_bytes}
    single = bench_config("qlora", settings, double_quant=False).updated({"estimate.completion_tokens": completion_tokens})
    figures["qlora"]["weight_bytes_single_quant"] = estimate(Setting.from_config(single)).memory["weights"]
    return figures


def mean_completion_tokens(settings: dict[str, Any]) -> int:
    from workbench.models.prompt_format import load_tokenizer
    from workbench.models.registry import resolve
    from workbench.training.data import IGNORE_INDEX, tokenize_completions

    tokenizer = load_tokenizer(resolve(GENERATOR, "generator"), GENERATOR)
    tokenized, _ = tokenize_completions(examples(settings)[0], tokenizer, settings["max_length"])
    return round(statistics.mean(sum(t != IGNORE_INDEX for t in e["labels"]) for e in tokenized))


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(results: dict[str, Any]) -> str:
    s, runs, timing, est = results["settings"], results["runs"], results["timing"], results["estimate"]
    lora, qlora = runs["lora"], runs["qlora"]
    steps = {method: {"seconds_per_step": timing["seconds_per_step"][method]} for method in METHODS}

    def row(label: str, measured: dict[str, dict], key: str, fmt, estimate_key: str | None = None,
            ratio: float | None = None) -> str:
        ratio = measured["qlora"][key] / measured["lora"][key] if ratio is None else ratio
        line = f"| {label} | {fmt(measured['lora'][key])} | {fmt(measured['qlora'][key])} | {ratio:.2f} |"
        if estimate_key is None:
            return line + " | | |"
        e_lora, e_qlora = est["lora"][estimate_key], est["qlora"][estimate_key]
        return line + f" {fmt(e_lora)} | {fmt(e_qlora)} | {e_qlora / e_lora:.2f} |"

    upcast = qlora["prepare_model_for_kbit_training"]
    quick = " --quick" if results["quick"] else ""
    loads = ", ".join(f"{attempt['load']:.2f}" for attempt in results["timing_attempts"])
    lines = [
        "# QLoRA against LoRA (SmolLM2-135M-Instruct, CPU)", "",
        f"`bench/qlora.py`{quick}, run {results['date']}, {results['minutes']:.1f} min, on 2 cores shared with other "
        f"sessions. 1-minute load average: {lora['load']:.2f} and {qlora['load']:.2f} during the LoRA and QLoRA "
        f"training runs (memory does not depend on it), **{timing['load']:.2f}** during the step timing (attempts: "
        f"{loads}; one above {MAX_LOAD} is repeated, up to {ATTEMPTS} times, and the least loaded reported).", "",
        f"Same data and settings for both: the first {s['pairs']} demo QA pairs (question → answer, what "
        f"`wb train generator --demo` trains on), batch {s['batch_size']} × {s['max_length']} tokens (every batch "
        f"padded), LoRA r=8 alpha 16 on peft's default targets for Llama (q_proj, v_proj), learning rate "
        f"{s['learning_rate']}, {lora['steps']} optimizer steps, gradient checkpointing, one torch thread (see "
        "`THREADS`); float32 everywhere but "
        "QLoRA's 4-bit block weights (NF4, double-quantised, multiplied in float32). Memory: each training run a "
        "process of its own. Step time: both models in one process, their steps (forward and backward of the same "
        f"batch) alternated for {s['rounds']} rounds after a warm-up round; the ratio is the median of the rounds' "
        f"ratios. Estimate: `wb estimate --device cpu` for the same setting ({results['completion_tokens']} learned "
        "tokens per sequence, as tokenized).", "",
        "| | LoRA | QLoRA | QLoRA / LoRA | estimate LoRA | estimate QLoRA | estimate QLoRA / LoRA |",
        "|---|---|---|---|---|---|---|",
        row("weights (stored tensors)", runs, "weight_bytes", mib, "weight_bytes"),
        f"| weights, NF4 without double quantization | | {mib(qlora['weight_bytes_single_quant'])} | "
        f"{qlora['weight_bytes_single_quant'] / lora['weight_bytes']:.2f} | | "
        f"{mib(est['qlora']['weight_bytes_single_quant'])} | "
        f"{est['qlora']['weight_bytes_single_quant'] / est['lora']['weight_bytes']:.2f} |",
        row("peak RSS of the training run (`ResourceMeter`)", runs, "peak_rss", mib),
        row("peak RSS above the process before the run", runs, "rss_rise", mib, "peak_memory"),
        row("peak anonymous memory (RssAnon) of the run", runs, "peak_anonymous", mib),
        row("seconds per step (median)", steps, "seconds_per_step", lambda x: f"{x:.2f}", "seconds_per_step",
            ratio=timing["ratio"]),
        row("trainable parameters", runs, "trainable_params", lambda x: f"{x:,}", "trainable_params"),
        row("adapter on disk", runs, "adapter_bytes", lambda x: f"{x / 2**10:,.0f} KiB", "adapter_bytes"),
        "",
        "The estimate's memory counts tensors only (weights, gradients, AdamW, traced activations). RSS also "
        "counts the pages of the checkpoint file the process has mapped and read: LoRA's float32 weights are "
        "such pages (transformers maps the safetensors file), and QLoRA reads every page of the float32 file "
        "once to quantize it, after which they stay mapped while the run lasts (the float32 embeddings are "
        "views of the same mapping); the kernel can drop them, unlike the anonymous memory.", "",
        f"## Held-out loss ({s['eval_pairs']} further demo QA pairs, per completion token)", "",
        "| | untuned, on the base it trains on | trained, on that base | trained, on the float32 base (how it answers) |",
        "|---|---|---|---|",
    ]
    for name, run in runs.items():
        losses = run["eval_loss"]
        lines.append(f"| {name} | {losses['untuned, training base']:.4f} | {losses['trained, training base']:.4f} | "
                     f"{losses['trained, float32 base']:.4f} |")
    lines += [
        "", f"Training loss, first → last step: LoRA {lora['first_loss']:.3f} → {lora['last_loss']:.3f}, "
        f"QLoRA {qlora['first_loss']:.3f} → {qlora['last_loss']:.3f}.", "",
        "## peft's prepare_model_for_kbit_training on the 4-bit model", "",
        f"Parameters whose dtype it changes on the model as workbench loads it for QLoRA: {upcast['parameters']} "
        f"({upcast['bytes']:,} bytes added). What it would upcast (16-bit embeddings, norms, output layer) is "
        "float32 already; its other work (freezing, reentrant gradient checkpointing with input gradients) peft's "
        "wrapping and `apply_method`'s non-reentrant checkpointing do. So workbench does not call it.", "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (smoke run)")
    parser.add_argument("--one", metavar="TASK", help=argparse.SUPPRESS)  # internal: one measured task
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_task(json.loads(args.one))))
        return
    settings = QUICK if args.quick else SETTINGS
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-bench-qlora-") as tmp:
        runs = {}
        for method in METHODS:
            print(f"[qlora] training {method} (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
            runs[method] = in_own_process(["train", method, settings, str(Path(tmp) / method)])
    attempts = []
    while len(attempts) < ATTEMPTS and (not attempts or attempts[-1]["load"] > MAX_LOAD):
        print(f"[qlora] step timing (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        attempts.append(in_own_process(["timing", settings]))
    completion_tokens = mean_completion_tokens(settings)
    results = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick, "settings": settings, "runs": runs,
               "timing": min(attempts, key=lambda attempt: attempt["load"]),
               "timing_attempts": [{"load": a["load"], "ratio": a["ratio"]} for a in attempts],
               "completion_tokens": completion_tokens, "estimate": estimated(settings, completion_tokens)}
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    RESULTS.write_text(report(results))
    RESULTS.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
