"""`wb train generator --method dpo | rloo`: the generator tuned on preferences with TRL.

- `dpo` (TRL's DPOTrainer): learns from (prompt, chosen, rejected) directly; the held-out summary
  reports DPO's reward accuracy (chosen's implicit reward above rejected's) and mean margin.
- `rloo` (TRL's RLOOTrainer): samples `num_generations` responses per prompt, scores them with a
  reward model (`wb train reward`), and pushes up those above their siblings' mean (REINFORCE
  Leave-One-Out), with a KL penalty `beta` to the reference. TRL no longer ships PPO; RLOO is its
  maintained online successor with a reward model, and needs no value network. The summary reports
  the reward model's mean score of greedy held-out replies before and after.

With `adapter: lora` (the default) only a LoRA adapter trains and the reference model is the same
weights with the adapter switched off, so no second copy sits in memory. `base_run` starts from a
finished generator run (e.g. instruction-tuned): a LoRA/IA3 run's adapter is merged into the base
weights first, so the reference is that run and the new adapter learns on top of it. A run saves like
any generator run (RUN_DIR/adapter/ or RUN_DIR/model/), so the finetuned strategies answer with it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.config import Config, default_setting
from workbench.corpus import PreferenceExample
from workbench.evaluation import metrics
from workbench.models.lora import LoraSettings, lora_config
from workbench.preference import trl_runs
from workbench.preference.data import check_window, preference_dataset, prompt_dataset, prompt_messages
from workbench.preference.reward import RewardModel, load_reward_model
from workbench.preference.scoring import reward_scores
from workbench.progress import ProgressCallback
from workbench.runfolder import RunDir, RunError, folder_size
from workbench.training.distributed import shared_run
from workbench.training.examples import PromptCompletion
from workbench.training.generator import (
    ADAPTER_DIR,
    MODEL_DIR,
    forgetting_probe,
    generate_replies,
    load_base,
    load_merged_run,
)
from workbench.training.generator import root_model as generator_root_model  # the base run's pretrained model
from workbench.training.loop import LoopSettings
from workbench.training.runs import ResourceMeter, parameter_counts


@dataclass(frozen=True)
class PreferenceOptions:
    loop: LoopSettings
    method: str = "dpo"  # dpo | rloo (training.generator.method, whose default is a supervised method)
    model: str = default_setting("models.generator")  # the pretrained model at the root (a base run's own base)
    adapter: str = default_setting("training.preference.adapter")  # lora | full
    base_run: str | None = None
    reward_run: str | None = None
    beta: float = default_setting("training.preference.beta")
    max_length: int = default_setting("training.preference.max_length")
    num_generations: int = default_setting("training.preference.num_generations")
    max_completion_length: int = default_setting("training.preference.max_completion_length")
    temperature: float = default_setting("training.preference.temperature")
    system_prompt: str = default_setting("generation.system_prompt")
    lora: LoraSettings = field(default_factory=LoraSettings)
    gradient_checkpointing: bool = default_setting("training.generator.gradient_checkpointing")
    max_new_tokens: int = default_setting("generation.max_new_tokens")  # greedy replies of the held-out and forgetting probes

    @classmethod
    def from_config(cls, config: Config) -> PreferenceOptions:
        """`training.preference` (its own loop), the method from `training.generator.method`."""
        section = config.training.preference
        return cls(loop=LoopSettings.from_config(config, section), method=config.training.generator.method,
                   model=config.models.generator, adapter=section.adapter,
                   base_run=str(config.training.generator.base_run) if config.training.generator.base_run else None,
                   reward_run=str(section.reward_run) if section.reward_run else None, beta=section.beta,
                   max_length=section.max_length, num_generations=section.num_generations,
                   max_completion_length=section.max_completion_length, temperature=section.temperature,
                   system_prompt=config.generation.system_prompt, lora=LoraSettings.from_config(config),
                   gradient_checkpointing=config.training.generator.gradient_checkpointing,
                   max_new_tokens=config.generation.max_new_tokens)


# ---- the model to start from ------------------------------------------------------------------------


def root_model(options: PreferenceOptions) -> str:
    """The pretrained model everything sits on: the base run's when starting from one."""
    return options.model if options.base_run is None else generator_root_model(options.base_run)


def load_policy_start(options: PreferenceOptions, device: str) -> tuple[nn.Module, Any]:
    """The weights preference tuning starts from, which are also its reference: the base model, or the
    base run with its adapter merged in (the same weights `load_trained_generator` rebuilds later)."""
    if options.base_run is None:
        return load_base(options.model, device)
    return load_merged_run(Path(options.base_run), device)


# ---- training -----------------------------------------------------------------------------------------


def train_preference(records: Sequence[PreferenceExample], eval_records: Sequence[PreferenceExample],
                     options: PreferenceOptions, output: Path, general: Sequence[PromptCompletion] | None = None,
                     source: str = "preference data", resume: bool = False,
                     progress: ProgressCallback | None = None) -> RunDir:
    """Tune the generator on preferences (`options.method`) into the run folder `output`."""
    options.loop.refuse_sharding("preference")
    objective = OBJECTIVES.get(options.method)
    if objective is None:
        raise RunError(f"unknown preference method '{options.method}' (choose from {', '.join(OBJECTIVES)})")
    runs = {key: str(Path(value).resolve()) for key, value in
            (("base_run", options.base_run), ("reward_run", options.reward_run)) if value is not None}
    options = replace(options, **runs)  # absolute: the run is loaded again from wherever it is answered
    if options.method == "rloo" and options.adapter == "full" and options.base_run:
        raise RunError("rloo with adapter 'full' takes its reference from the model folder: merge the base run "
                       "first (`wb train merge RUN --output DIR`) and pass --model DIR instead of --base")
    reward = _reward_for(options)
    if len(records) < options.loop.batch_size:
        raise RunError(f"{source}: {len(records)} training pairs, fewer than the batch size {options.loop.batch_size}; "
                       f"lower --batch-size")
    options = replace(options, model=root_model(options))
    config = {"kind": "generator", "source": source, "train_examples": len(records),
              "eval_examples": len(eval_records), "options": asdict(options)}
    with shared_run(output, config, resume, options.loop.device) as run:
        with ResourceMeter() as meter:
            torch.manual_seed(options.loop.seed)
            model, tokenizer = load_policy_start(options, options.loop.device)
            check_window([*records, *eval_records], tokenizer, options.system_prompt, options.max_length, source)
            extra: dict[str, Any] = {}
            if general and run.writer:  # rank 0 measures; with several processes the others only train
                extra["forgetting"] = {"before": forgetting_probe(model, tokenizer, general, options)}
            before = objective.evaluate(model, tokenizer, eval_records, options, reward, None)
            trainer = objective.trainer(model, tokenizer, records, eval_records, options, reward, run)
            seconds = trl_runs.train(trainer, run, resume, progress)
            model = trainer.model
            after = objective.evaluate(model, tokenizer, eval_records, options, reward, trainer)
            if general and run.writer:
                extra["forgetting"]["after"] = forgetting_probe(model, tokenizer, general, options)
            saved = save_policy(model, tokenizer, options, run.path) if run.writer else 0
        summary = {
            "kind": "generator", "method": options.method, "adapter": options.adapter, "model": options.model,
            "base_run": options.base_run, "reward_run": options.reward_run, **parameter_counts(model),
            "saved_bytes": saved, **meter.report(), "train_seconds": round(seconds, 2), "steps": trainer.state.global_step,
            "final": {**after, **{f"before_{k}": v for k, v in before.items()}}, **extra,
        }
        run.finish(summary)
    return run


def _reward_for(options: PreferenceOptions) -> RewardModel | None:
    if options.method != "rloo":
        return None
    if options.reward_run is None:
        raise RunError("rloo samples responses and needs a reward model to score them: train one with "
                       "`wb train reward`, then pass --reward RUN_DIR")
    config = RunDir.open(Path(options.reward_run)).config()
    trained_on, policy_model = config.options.model, root_model(options)
    if config.kind == "reward" and trained_on != policy_model:
        raise RunError(f"--reward {options.reward_run}: the reward model was trained on '{trained_on}', the "
                       f"policy is '{policy_model}'; train the reward model on the same base (its chat template "
                       f"must read the policy's responses as the policy writes them)")
    return load_reward_model(Path(options.reward_run), options.loop.device)


def _peft(options: PreferenceOptions) -> Any:
    return lora_config(options.lora, "CAUSAL_LM") if options.adapter == "lora" else None


def save_policy(model: nn.Module, tokenizer: Any, options: PreferenceOptions, folder: Path) -> int:
    """Save what trained, where `load_trained_generator` finds it."""
    if options.adapter == "full":
        model.save_pretrained(folder / MODEL_DIR)
        tokenizer.save_pretrained(folder / MODEL_DIR)
        return folder_size(folder / MODEL_DIR)
    # what the adapter sits on: the model name as given (not a cache path), or the base run it was trained on
    model.peft_config["default"].base_model_name_or_path = options.base_run or options.model
    model.save_pretrained(folder / ADAPTER_DIR, selected_adapters=["default"], save_embedding_layers=False)
    return folder_size(folder / ADAPTER_DIR)


# ---- the objectives -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """How one preference method builds its TRL trainer and scores held-out records."""

    trainer: Callable[..., Any]
    evaluate: Callable[..., dict[str, float]]


def _dpo_trainer(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample],
                 eval_records: Sequence[PreferenceExample], options: PreferenceOptions, reward: RewardModel | None,
                 run: RunDir) -> Any:
    from trl import DPOConfig, DPOTrainer

    args = trl_runs.trainer_arguments(DPOConfig, options.loop, run, options.max_length,
                                      options.gradient_checkpointing, beta=options.beta)
    reference = copy.deepcopy(model).eval().requires_grad_(False) if options.adapter == "full" else None
    return DPOTrainer(model=model, ref_model=reference, args=args, processing_class=tokenizer,
                      train_dataset=preference_dataset(records, options.system_prompt),
                      eval_dataset=preference_dataset(eval_records, options.system_prompt), peft_config=_peft(options))


def _dpo_evaluate(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample], options: PreferenceOptions,
                  reward: RewardModel | None, trainer: Any) -> dict[str, float]:
    """DPO's held-out reward accuracy and margin, computed by the trainer itself (before training there
    is no policy/reference difference yet: every margin is 0)."""
    if trainer is None:
        return {}
    scores = trainer.evaluate()
    return {"eval_loss": scores["eval_loss"], "eval_reward_accuracy": scores["eval_rewards/accuracies"],
            "eval_reward_margin": scores["eval_rewards/margins"]}


def _rloo_trainer(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample],
                  eval_records: Sequence[PreferenceExample], options: PreferenceOptions, reward: RewardModel | None,
                  run: RunDir) -> Any:
    from trl import RLOOConfig, RLOOTrainer

    args = trl_runs.trainer_arguments(
        RLOOConfig, replace(options.loop, batch_size=options.loop.batch_size * options.num_generations), run, None,
        options.gradient_checkpointing, beta=options.beta, num_generations=options.num_generations,
        max_completion_length=options.max_completion_length, temperature=options.temperature)
    return RLOOTrainer(model=model, reward_funcs=reward.model, args=args, processing_class=tokenizer,
                       reward_processing_classes=reward.tokenizer,
                       train_dataset=prompt_dataset(records, options.system_prompt), peft_config=_peft(options))


def _rloo_evaluate(model: nn.Module, tokenizer: Any, records: Sequence[PreferenceExample], options: PreferenceOptions,
                   reward: RewardModel, trainer: Any) -> dict[str, float]:
    """The reward model's mean score of the policy's greedy replies to the held-out prompts."""
    examples = [PromptCompletion(tuple(prompt_messages(r, options.system_prompt)), r.chosen) for r in records]
    replies = generate_replies(model, tokenizer, examples, options.max_completion_length, options.loop.batch_size)
    scores = reward_scores(reward.model, reward.tokenizer, [(list(e.messages), text) for e, text in zip(examples, replies)],
                           reward.max_length)
    return {"eval_reward": metrics.mean(scores)}


OBJECTIVES: dict[str, Objective] = {
    "dpo": Objective(_dpo_trainer, _dpo_evaluate),
    "rloo": Objective(_rloo_trainer, _rloo_evaluate),
}
