"""`wb train reward`: a reward model learnt from preferences with TRL's RewardTrainer.

The generator with a one-output score head (`AutoModelForSequenceClassification`, num_labels=1) learns
to score the chosen response above the rejected one (Bradley–Terry loss). With `lora` the adapter and
the score head train (peft's SEQ_CLS task keeps the head trainable and saves it with the adapter,
RUN_DIR/adapter/); with `full`, everything trains (RUN_DIR/model/). The summary reports held-out
pairwise accuracy: the share of held-out pairs whose chosen response scores above the rejected one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.config import Config, default_setting
from workbench.corpus import PreferenceExample
from workbench.evaluation import metrics
from workbench.models import resolve_device
from workbench.models.lora import LoraSettings, lora_config
from workbench.models.prompt_format import load_tokenizer
from workbench.models.registry import resolve, unavailable
from workbench.preference import trl_runs
from workbench.preference.data import check_window, preference_dataset, prompt_messages
from workbench.preference.scoring import reward_scores
from workbench.progress import ProgressCallback
from workbench.runfolder import RunDir, RunError, folder_size
from workbench.training.distributed import shared_run
from workbench.training.loop import LoopSettings
from workbench.training.runs import ResourceMeter, parameter_counts

ADAPTER_DIR, MODEL_DIR = "adapter", "model"


@dataclass(frozen=True)
class RewardOptions:
    loop: LoopSettings
    method: str = default_setting("training.reward.method")  # lora | full
    model: str = default_setting("models.generator")
    max_length: int = default_setting("training.reward.max_length")
    system_prompt: str = default_setting("generation.system_prompt")
    lora: LoraSettings = field(default_factory=LoraSettings)

    @classmethod
    def from_config(cls, config: Config) -> RewardOptions:
        section = config.training.reward
        return cls(loop=LoopSettings.from_config(config, section), method=section.method,
                   model=config.models.generator, max_length=section.max_length,
                   system_prompt=config.generation.system_prompt, lora=LoraSettings.from_config(config))


def load_score_model(name: str, device: str = "auto") -> tuple[nn.Module, Any]:
    """The causal LM `name`'s weights under a fresh one-output score head, in float32, and its tokenizer
    (prompted as the generator is: `workbench.models.prompt_format`)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = resolve(name, "generator")
    tokenizer = load_tokenizer(source, name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "score.weight newly initialized": the point of a reward head
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=torch.float32)
    except OSError as exc:
        raise unavailable(name, exc) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(resolve_device(device)), tokenizer


def pairwise_rows(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample], system_prompt: str,
                  max_length: int, batch_size: int = 8) -> list[dict[str, Any]]:
    """Per held-out pair: both scores, their margin, and whether the chosen response scored higher."""
    prompts = [prompt_messages(r, system_prompt) for r in records]
    chosen = reward_scores(model, tokenizer, [(p, r.chosen) for p, r in zip(prompts, records)], max_length, batch_size)
    rejected = reward_scores(model, tokenizer, [(p, r.rejected) for p, r in zip(prompts, records)], max_length, batch_size)
    return [{"chosen": c, "rejected": r, "margin": c - r, "correct": float(c > r)} for c, r in zip(chosen, rejected)]


def train_reward(records: Sequence[PreferenceExample], eval_records: Sequence[PreferenceExample], options: RewardOptions,
                 output: Path, source: str = "preference data", resume: bool = False,
                 progress: ProgressCallback | None = None) -> RunDir:
    """Train a reward model on `records` into the run folder `output`; held-out accuracy on `eval_records`."""
    options.loop.refuse_sharding("reward")
    if len(records) < options.loop.batch_size:
        raise RunError(f"{source}: {len(records)} training pairs, fewer than the batch size {options.loop.batch_size}; "
                       f"lower --batch-size")
    config = {"kind": "reward", "source": source, "train_examples": len(records), "eval_examples": len(eval_records),
              "options": asdict(options)}
    with shared_run(output, config, resume, options.loop.device) as run:
        with ResourceMeter() as meter:
            torch.manual_seed(options.loop.seed)
            model, tokenizer = load_score_model(options.model, options.loop.device)
            check_window([*records, *eval_records], tokenizer, options.system_prompt, options.max_length, source)
            before = pairwise_rows(model, tokenizer, eval_records, options.system_prompt, options.max_length)
            trainer = reward_trainer(model, tokenizer, records, options, run)
            seconds = trl_runs.train(trainer, run, resume, progress)
            model = trainer.model
            after = pairwise_rows(model, tokenizer, eval_records, options.system_prompt, options.max_length)
            saved = save_score_model(model, tokenizer, options, run.path) if run.writer else 0
        summary = {
            "kind": "reward", "method": options.method, "model": options.model, **parameter_counts(model),
            "saved_bytes": saved, **meter.report(), "train_seconds": round(seconds, 2), "steps": trainer.state.global_step,
            "final": {"eval_accuracy": metrics.mean([row["correct"] for row in after]),
                      "eval_margin": metrics.mean([row["margin"] for row in after]),
                      "untrained_eval_accuracy": metrics.mean([row["correct"] for row in before])},
            "eval_items": after,
        }
        run.finish(summary)
    return run


def reward_trainer(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample], options: RewardOptions,
                   run: RunDir) -> Any:
    """TRL's RewardTrainer for `model` (LoRA applied by it when `options.method` is lora)."""
    from trl import RewardConfig, RewardTrainer

    args = trl_runs.trainer_arguments(RewardConfig, options.loop, run, options.max_length)
    return RewardTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=preference_dataset(records, options.system_prompt),
                         peft_config=lora_config(options.lora, "SEQ_CLS") if options.method == "lora" else None)


def save_score_model(model: nn.Module, tokenizer: Any, options: RewardOptions, folder: Path) -> int:
    if options.method == "full":
        model.save_pretrained(folder / MODEL_DIR)
        tokenizer.save_pretrained(folder / MODEL_DIR)
        return folder_size(folder / MODEL_DIR)
    model.peft_config["default"].base_model_name_or_path = options.model  # the name as given, not a cache path
    model.save_pretrained(folder / ADAPTER_DIR)
    return folder_size(folder / ADAPTER_DIR)


@dataclass(frozen=True)
class RewardModel:
    """A trained reward model, ready to score: adapter merged into the weights, eval mode."""

    model: nn.Module
    tokenizer: Any
    base_model: str  # the causal LM it was trained on
    max_length: int
    system_prompt: str
    run: Path


def load_reward_model(path: Path, device: str = "auto") -> RewardModel:
    """The reward model of the finished run `path` (`wb train reward`)."""
    run = RunDir.open(path)
    config = run.config()
    if config.kind != "reward":
        raise RunError(f"{path}: a {config.kind} run, not a reward model (train one with `wb train reward`)")
    options = config.options
    if options.method == "full":
        model, tokenizer = load_score_model(str(run.path / MODEL_DIR), device)
    else:
        from peft import PeftModel

        model, tokenizer = load_score_model(options.model, device)
        model = PeftModel.from_pretrained(model, run.path / ADAPTER_DIR).merge_and_unload()
    return RewardModel(model.eval(), tokenizer, options.model, options.max_length, options.system_prompt, run.path)
