"""TRL's trainers inside a workbench run folder: the same settings, curve, progress, checkpoints and resume
as the runs trained by `workbench.training.loop`.

TRL's trainers are `transformers.Trainer`s. Three things are bridged here:
- settings: `LoopSettings` (the config's `training.*`) become the trainer's arguments;
- what a run shows: every logged step goes to curve.jsonl (the loss and TRL's own metrics: reward
  accuracy and margins, KL, sampled rewards) and to the progress callback, which may cancel;
- crash safety: the trainer writes `checkpoint-N` into a staging folder and, once written whole, the
  folder is renamed into RUN_DIR/checkpoints/ (an atomic rename), so a SIGKILL mid-save leaves the
  previous checkpoint to resume from. The trainer restores model, optimizer, scheduler, RNG and its
  step from it (torch.load with `weights_only=True`: tensors and plain values, no code).
With several processes, rank 0 writes the curve and moves the checkpoint once every process has written
its part (each its own RNG state), and a cancel heard by one process stops all at the same step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from transformers import PrinterCallback, TrainerCallback

from workbench.ondisk import write_jsonl
from workbench.progress import Cancelled, ProgressCallback, start_stage
from workbench.runfolder import RunDir
from workbench.training.distributed import any_rank, wait_for_all
from workbench.training.loop import LoopSettings

STAGING = ".checkpoint-staging"
PREFIX = "checkpoint-"


def trainer_arguments(config_class: type, loop: LoopSettings, run: RunDir, max_length: int | None,
                      gradient_checkpointing: bool = True, **settings: Any) -> Any:
    """`config_class` (DPOConfig, RewardConfig, RLOOConfig) filled from the loop's settings."""
    import torch

    from workbench.models import resolve_device

    device = resolve_device(loop.device)
    length = {"max_length": max_length} if max_length is not None else {}
    return config_class(
        output_dir=str(run.path / STAGING),
        num_train_epochs=loop.epochs, max_steps=loop.max_steps or -1,
        per_device_train_batch_size=loop.batch_size, per_device_eval_batch_size=loop.batch_size,
        learning_rate=loop.learning_rate, weight_decay=loop.weight_decay, max_grad_norm=loop.max_grad_norm,
        warmup_steps=loop.warmup_ratio, lr_scheduler_type="linear", seed=loop.seed, data_seed=loop.seed,
        logging_steps=1, save_strategy="steps" if loop.checkpoint_every else "no",
        save_steps=loop.checkpoint_every or 500, save_total_limit=None, eval_strategy="no",
        report_to="none", disable_tqdm=True, use_cpu=device.type == "cpu",
        bf16=device.type == "cuda" and torch.cuda.is_bf16_supported(),
        activation_checkpointing=gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if gradient_checkpointing else None,
        dataloader_num_workers=0, **length, **settings,
    )


def latest_checkpoint(run: RunDir) -> Path | None:
    found = [p for p in run.checkpoints.glob(f"{PREFIX}*") if p.is_dir()] if run.checkpoints.is_dir() else []
    return max(found, key=lambda p: int(p.name.removeprefix(PREFIX))) if found else None


class RunCallback(TrainerCallback):
    """Writes the run's curve, reports progress (which may cancel), and moves each checkpoint, once
    written whole, into the run folder."""

    def __init__(self, run: RunDir, progress: ProgressCallback | None):
        self.run, self.progress, self.stage, self.cancelled = run, progress, None, False

    def on_train_begin(self, args, state, control, **kwargs):
        self.stage = start_stage(self.progress if state.is_world_process_zero else None, "training",
                                 state.max_steps, state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        rows = [{"step": entry["step"], **{k: v for k, v in entry.items() if k != "step"}}
                for entry in state.log_history if "loss" in entry and "step" in entry]
        write_jsonl(self.run.path / "curve.jsonl", rows)

    def on_step_end(self, args, state, control, **kwargs):
        last = next((entry for entry in reversed(state.log_history) if "loss" in entry), {})
        cancelled = False
        try:
            self.stage.advance(**({"loss": float(last["loss"])} if "loss" in last else {}))
        except Cancelled:
            cancelled = True
        if any_rank(cancelled, args.device):  # save where we are, stop, and raise once the trainer has returned
            self.cancelled = True
            control.should_save = args.save_strategy != "no"
            control.should_training_stop = True

    def on_save(self, args, state, control, **kwargs):
        wait_for_all()  # every process has written its part (its RNG state) into the staged folder
        staged = Path(args.output_dir) / f"{PREFIX}{state.global_step}"
        if not state.is_world_process_zero or not staged.is_dir():
            return
        self.run.checkpoints.mkdir(exist_ok=True)
        final = self.run.checkpoints / staged.name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staged, final)
        for older in self.run.checkpoints.glob(f"{PREFIX}*"):
            if older != final:
                shutil.rmtree(older, ignore_errors=True)


def train(trainer: Any, run: RunDir, resume: bool, progress: ProgressCallback | None) -> float:
    """Run `trainer` (resuming from the run's last whole checkpoint when `resume`); returns the seconds
    spent training. A cancel from `progress` raises `Cancelled` after the checkpoint is saved."""
    import time

    if run.writer:
        shutil.rmtree(run.path / STAGING, ignore_errors=True)  # a save cut short by a crash
    callback = RunCallback(run, progress)
    trainer.remove_callback(PrinterCallback)  # steps show through `progress` (tqdm in the CLI), not printed dicts
    trainer.add_callback(callback)
    checkpoint = latest_checkpoint(run) if resume else None
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started
    if run.writer:
        shutil.rmtree(run.path / STAGING, ignore_errors=True)
    if callback.cancelled:
        raise Cancelled("training cancelled; resume with --resume")
    return seconds
