"""The one training loop behind every method: accelerate-driven, checkpointed, resumable, measured.

Going through `accelerate` means the same command runs on one CPU, one GPU, or several processes
(`wb train --nproc N`, `torchrun`, `accelerate launch`: DDP, gloo on CPUs; FSDP with `training.sharding`).
Data order is a pure function of (seed, epoch, number of processes), and the checkpoint restores each
process's torch RNG, so a run killed and resumed ends with the same metrics as one that never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from transformers import get_linear_schedule_with_warmup

from workbench.config import (
    ClassifierTrainingConfig,
    Config,
    GeneratorTrainingConfig,
    PreferenceTrainingConfig,
    RewardTrainingConfig,
    default_setting,
)
from workbench.progress import Cancelled, ProgressCallback, start_stage
from workbench.runfolder import RunDir, RunError
from workbench.training.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from workbench.training.data import LengthGroupedBatches, rank_share
from workbench.training.distributed import any_rank, current_world, from_main, is_sharded, shard, sum_over_ranks

Batch = dict[str, torch.Tensor]  # a collated batch: input_ids, attention_mask, labels


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    checkpoint_every: int = default_setting("training.checkpoint_every")  # and one at each epoch end; 0: none
    max_steps: int | None = default_setting("training.max_steps")  # stop early (tests, quick looks); None: all epochs
    early_stopping: int | None = default_setting("training.early_stopping")  # epochs without a better eval loss
    warmup_ratio: float = 0.06  # not settings: the schedule every run of workbench uses
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    group_by_length: bool = default_setting("training.group_by_length")
    sharding: str = default_setting("training.sharding")  # fsdp: split the model over the processes
    device: str = default_setting("models.device")

    @classmethod
    def from_config(cls, config: Config, section: ClassifierTrainingConfig | GeneratorTrainingConfig
                    | PreferenceTrainingConfig | RewardTrainingConfig) -> LoopSettings:
        """The loop of a run: `section` is `config.training.classifier`, `.generator`, `.preference` or `.reward`."""
        training = config.training
        return cls(epochs=section.epochs, batch_size=section.batch_size, learning_rate=section.learning_rate,
                   seed=training.seed, checkpoint_every=training.checkpoint_every, max_steps=training.max_steps,
                   early_stopping=training.early_stopping, group_by_length=training.group_by_length,
                   sharding=training.sharding, device=config.models.device)

    def refuse_sharding(self, what: str) -> None:
        """For the runs that never shard: asked to, they say so rather than train unsharded."""
        if self.sharding != "none":
            raise RunError(f"--sharding {self.sharding} splits generator runs (wb train generator) over the processes; "
                           f"{what} runs train with --sharding none (each process holds the whole model)")


@dataclass
class Progress:
    """Where the loop is; saved in every checkpoint (JSON)."""

    epoch: int = 0
    batches_done: int = 0  # in the current epoch
    global_step: int = 0
    loss_sum: float = 0.0  # over the current epoch's batches so far
    loss_count: int = 0
    examples: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    best_eval_loss: float | None = None
    stale_epochs: int = 0
    history: list[dict[str, Any]] | None = None
    step_losses: list[list[float]] | None = None  # [step, loss] of every optimizer step: the training curve


def model_loss(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, int]:
    """The mean loss the model computes itself from the batch's `labels`, as a sum over the batch's rows,
    and their count."""
    rows = len(batch["labels"])
    return model(**batch).loss * rows, rows


def fit(model: torch.nn.Module, param_groups: list[dict[str, Any]], dataset: Sequence[dict[str, Any]],
        collate: Callable[[list[dict[str, Any]]], Batch], lengths: Sequence[int],
        settings: LoopSettings, run: RunDir, evaluate: Callable[[torch.nn.Module], dict[str, float]],
        resume: bool = False, progress_callback: ProgressCallback | None = None,
        compute_loss: Callable[[torch.nn.Module, Batch], tuple[torch.Tensor, int]] = model_loss) -> Progress:
    """Train `model` on `dataset` (examples batched by `collate`), evaluating after each epoch.

    `lengths` (tokens per example) drive length-grouped batching and the tokens/s count;
    `evaluate(model)` returns at least `eval_loss`. `progress_callback` hears of every step (stage
    "training", with the step's `loss`) and every evaluation (`eval_loss` and the task metrics).
    `compute_loss(model, batch)` returns the batch's summed loss and how many items it sums (tokens,
    rows): the step's loss is the sum over all processes divided by the count over all processes, so
    that two processes with batch size B learn exactly what one learns with 2B. It gets the model as
    prepared by accelerate and must call it, not its submodules: with several processes it is a
    wrapper whose forward keeps the gradients in sync. With `settings.sharding` "fsdp" and several
    processes, `model` is sharded in place (every process then evaluates: a forward needs them all).
    Returns the final progress with the history."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, set_seed

    from workbench.models import resolve_device

    accelerator = Accelerator(cpu=resolve_device(settings.device).type == "cpu")
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise RunError(f"{run.path}: launched with accelerate's {accelerator.distributed_type.value}: launch without "
                       "it and shard with --sharding fsdp (workbench shards with torch's FSDP itself, to keep its "
                       "checkpoints in safetensors; docs/scale.md)")
    world = current_world()
    set_seed(settings.seed)
    steps = LengthGroupedBatches(lengths, settings.batch_size, settings.seed, settings.group_by_length, world.size)
    sharded = settings.sharding == "fsdp" and world.size > 1
    if sharded:  # sharding replaces the parameters: the optimizer's groups are found again by name
        names = {id(p): name for name, p in model.named_parameters()}
        groups = [[names[id(p)] for p in group["params"]] for group in param_groups]
        params = dict(shard(model, accelerator.device).named_parameters())
        param_groups = [{**group, "params": [params[name] for name in named]}
                        for group, named in zip(param_groups, groups)]
    optimizer = torch.optim.AdamW(param_groups, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    total_steps = len(steps) * settings.epochs
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(settings.warmup_ratio * total_steps), total_steps)
    if not sharded:  # (a sharded model keeps its gradients in step itself)
        model, optimizer = accelerator.prepare(model, optimizer)

    progress = Progress(history=[], step_losses=[])
    checkpoint = latest_checkpoint(run.checkpoints) if resume else None
    if checkpoint is not None:
        progress = Progress(**{"step_losses": [], **load_checkpoint(checkpoint, accelerator.unwrap_model(model),
                                                                     optimizer, scheduler)})

    def checkpoint_now() -> None:
        if settings.checkpoint_every:
            save_checkpoint(run.checkpoints, progress.global_step, accelerator.unwrap_model(model),
                            optimizer, scheduler, asdict(progress))
            run.write_curve(progress.step_losses)

    training = start_stage(progress_callback if world.is_main else None, "training", total_steps, progress.global_step)
    while progress.epoch < settings.epochs and progress.global_step < total_steps and not _should_stop(progress, settings):
        model.train()
        started = time.perf_counter()
        steps.set_epoch(progress.epoch)
        for step in list(steps)[progress.batches_done:]:
            ids = rank_share(step, world.rank, world.size)
            batch = {k: v.to(accelerator.device) for k, v in collate([dataset[i] for i in ids or step[:1]]).items()}
            summed, count = compute_loss(model, batch)
            if not ids:  # the epoch's last batch left this process nothing: it takes the step with no weight
                summed, count = summed * 0.0, 0
            # One exchange per step: the loss and counts of all processes (the loss is their sum over their count).
            step_loss, step_count, step_examples, step_tokens = sum_over_ranks(torch.tensor(
                [summed.item(), count, len(ids), sum(lengths[i] for i in ids)], dtype=torch.float64,
                device=accelerator.device)).tolist()
            # Each process's gradient is averaged over the processes by the wrapper, hence the factor.
            accelerator.backward(summed * (world.size / max(step_count, 1)))
            if settings.max_grad_norm:
                accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss /= max(step_count, 1)
            progress.global_step += 1
            progress.batches_done += 1
            progress.loss_count += 1
            progress.examples += int(step_examples)
            progress.tokens += int(step_tokens)
            progress.loss_sum += step_loss
            progress.step_losses.append([progress.global_step, step_loss])
            if settings.checkpoint_every and progress.global_step % settings.checkpoint_every == 0:
                progress.train_seconds += time.perf_counter() - started
                started = time.perf_counter()
                checkpoint_now()
            cancel: Cancelled | None = None
            try:
                training.advance(loss=step_loss, epoch=progress.epoch + 1)
            except Cancelled as exc:
                cancel = exc
            if any_rank(cancel is not None, accelerator.device):  # between two steps: a checkpoint here resumes exactly
                progress.train_seconds += time.perf_counter() - started
                checkpoint_now()
                raise cancel or Cancelled("training stopped on another process; resume with --resume")
            if progress.global_step >= total_steps:
                break
        progress.train_seconds += time.perf_counter() - started
        _end_epoch(progress, accelerator.unwrap_model(model), evaluate, run)
        checkpoint_now()  # before reporting: a cancel raised by the report resumes from here
        training.report(**{k: v for k, v in progress.history[-1].items() if isinstance(v, (int, float))})
    run.write_curve(progress.step_losses)
    return progress


def _end_epoch(progress: Progress, model: torch.nn.Module, evaluate: Callable[[torch.nn.Module], dict[str, float]],
               run: RunDir) -> None:
    """Evaluate, append the epoch's metrics, update early stopping, and move to the next epoch.
    With several processes, rank 0 evaluates (the weights are the same everywhere) and tells the others;
    a sharded model is evaluated by every process (each forward gathers the weights from all)."""
    model.eval()
    scores = None
    if current_world().is_main or is_sharded(model):
        with torch.no_grad():
            scores = evaluate(model)
    scores = from_main(scores)
    train_loss = progress.loss_sum / progress.loss_count if progress.loss_count else float("nan")
    progress.history.append({"epoch": progress.epoch + 1, "step": progress.global_step,
                             "train_loss": train_loss, **scores})
    run.write_metrics(progress.history)
    if progress.best_eval_loss is None or scores["eval_loss"] < progress.best_eval_loss:
        progress.best_eval_loss, progress.stale_epochs = scores["eval_loss"], 0
    else:
        progress.stale_epochs += 1
    progress.epoch += 1
    progress.batches_done, progress.loss_sum, progress.loss_count = 0, 0.0, 0


def _should_stop(progress: Progress, settings: LoopSettings) -> bool:
    patience = settings.early_stopping
    return patience is not None and progress.stale_epochs >= patience
