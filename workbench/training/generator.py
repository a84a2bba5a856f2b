"""Instruction / QA finetuning of a causal LM on prompt–completion examples.

The methods (`lora`, `qlora`, `prompt-tuning`, `prefix-tuning`, `ia3`, `adapter`, `full`, ...) are entries of
`workbench.models.methods`: each says what trains, what it saves (RUN_DIR/adapter/, or RUN_DIR/model/
for a complete model) and how it loads; this module trains, scores and loads whichever is chosen.
The loss covers the completion only; QA prompts are the finetuned strategies' own templates
(`workbench.training.examples.qa_examples`), in the model's chat template exactly as at inference.

Memory (CPU, SmolLM2 LoRA, batch 8 x 384 tokens; bench/results/training.md): by default each block's
activations are recomputed during the backward pass instead of kept (`gradient_checkpointing`), and
the LM head runs only at the positions whose next token is learned (`completion_token_loss`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from workbench.config import Config, default_setting
from workbench.evaluation import metrics
from workbench.evaluation.evaluator import mean_scores
from workbench.models import LoadedGenerator, resolve_device
from workbench.models.adapter_files import PEFT_CONFIG, AdapterFolder, open_adapter_folder
from workbench.models.bottleneck import BOTTLENECK_CONFIG
from workbench.models.lora import LoraSettings
from workbench.models.methods import (
    ADAPTER_DIR,
    MODEL_DIR,
    GeneratorMethod,
    generator_method,
    generator_method_for_adapter,
    generator_methods,
)
from workbench.models.prompt_format import load_tokenizer
from workbench.models.quantization import keep_training_layout
from workbench.models.registry import resolve, unavailable
from workbench.progress import ProgressCallback
from workbench.runfolder import RunDir, RunError, folder_size
from workbench.training.checkpoints import trainable_state
from workbench.training.data import IGNORE_INDEX, pad_batch, tokenize_completions
from workbench.training.distributed import is_sharded, shared_run
from workbench.training.examples import PromptCompletion
from workbench.training.loop import Batch, LoopSettings, fit, model_loss
from workbench.training.runs import ResourceMeter, parameter_counts


@dataclass(frozen=True)
class GeneratorOptions:
    loop: LoopSettings
    method: str = default_setting("training.generator.method")
    model: str = default_setting("models.generator")
    max_length: int = default_setting("training.generator.max_length")
    lora: LoraSettings = field(default_factory=LoraSettings)
    virtual_tokens: int = default_setting("training.generator.virtual_tokens")  # prompt-tuning and prefix-tuning
    prompt_init_text: str | None = None  # prompt-tuning: start the virtual tokens from this text
    bottleneck_size: int = default_setting("training.generator.bottleneck_size")  # adapter
    double_quant: bool = default_setting("training.qlora.double_quant")  # qlora: the 4-bit weights' scales quantized too
    gradient_checkpointing: bool = default_setting("training.generator.gradient_checkpointing")  # recompute block activations in the backward pass: less memory, slower
    mask_prompt: bool = True  # loss on the completion only
    pad_to_max_length: bool = False  # True only for the naive baseline and the memory benchmark
    logits_on_labels_only: bool = True  # False only for the naive baseline: logits everywhere, transformers' loss
    eval_generate: int = default_setting("training.generator.eval_generate")  # eval examples answered greedily at each epoch end for the task metric
    max_new_tokens: int = default_setting("generation.max_new_tokens")
    compare_untuned: bool = False  # also score the untuned model before training (summary "untuned")
    base_run: str | None = None  # start from this finished generator run, its adapter merged

    @classmethod
    def from_config(cls, config: Config, prompt_init_text: str | None = None) -> GeneratorOptions:
        """Every setting from `training.generator` (and `training.lora`, `training.*` for the loop);
        the base model is `models.generator`, or the root model of `training.generator.base_run`."""
        section = config.training.generator
        base_run = str(section.base_run) if section.base_run else None
        return cls(loop=LoopSettings.from_config(config, section), method=section.method, base_run=base_run,
                   model=root_model(base_run) if base_run else config.models.generator,
                   max_length=section.max_length, lora=LoraSettings.from_config(config),
                   virtual_tokens=section.virtual_tokens, prompt_init_text=prompt_init_text,
                   bottleneck_size=section.bottleneck_size, double_quant=config.training.qlora.double_quant,
                   gradient_checkpointing=section.gradient_checkpointing,
                   eval_generate=section.eval_generate, max_new_tokens=config.generation.max_new_tokens)


def load_base(name: str, device: str = "auto", quantization: Any = None) -> tuple[nn.Module, Any]:
    """A fresh, trainable float32 copy of the causal LM `name` and its tokenizer (not the shared cached one).

    With a transformers `quantization` config (a method's `quantization`: QLoRA's NF4), the weights it
    covers are quantized as they load, straight onto the device, and kept in the layout that passes
    gradients (`keep_training_layout`); the rest stays float32."""
    from transformers import AutoModelForCausalLM

    source = resolve(name, "generator")
    tokenizer = load_tokenizer(source, name)
    target = resolve_device(device)
    placed = {"quantization_config": quantization, "device_map": {"": target}} if quantization is not None else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **placed)
    except OSError as exc:
        raise unavailable(name, exc) from None
    return (keep_training_layout(model) if placed else model.to(target)), tokenizer


def load_starting_point(options: GeneratorOptions) -> tuple[nn.Module, Any]:
    """What a run trains from: the finished run `options.base_run`, its adapter merged, or the pretrained
    `options.model`, quantized if the method says so (QLoRA)."""
    if options.base_run:
        return load_merged_run(Path(options.base_run), options.loop.device)
    quantize = supervised_method(options.method).quantization
    device = resolve_device(options.loop.device)
    return load_base(options.model, options.loop.device, quantize(options, device) if quantize else None)


def supervised_method(name: str) -> GeneratorMethod:
    """The entry of method `name`, refusing the preference methods, which workbench.preference trains."""
    method = generator_method(name)
    if method.objective != "supervised":
        raise RunError(f"'{name}' learns from preference records, not from prompt-completion examples: "
                       f"train it with `wb train generator --method {name} --data PREFERENCES`")
    return method


def apply_method(model: nn.Module, options: GeneratorOptions) -> nn.Module:
    """Wrap or unfreeze `model` for the method; everything not trained is frozen.

    With `options.gradient_checkpointing`, a training forward keeps only each block's input and the
    backward pass recomputes the rest, block by block (non-reentrant checkpointing, which needs no
    input that requires grad, so frozen embeddings under LoRA are fine). Methods that cannot
    (`checkpointing=False`: prefix-tuning, whose prefix is an attention cache) train without."""
    method = supervised_method(options.method)
    if options.gradient_checkpointing and method.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return method.apply(model, options)


# ---- scoring ----------------------------------------------------------------------------------------


def virtual_tokens_prepended(model: nn.Module) -> int:
    """Positions prompt-tuning puts in front of the input (prefix-tuning's live in the attention cache)."""
    from peft import PeftType

    config = getattr(model, "active_peft_config", None)
    return config.num_virtual_tokens if config is not None and config.peft_type == PeftType.PROMPT_TUNING else 0


def completion_token_loss(model: nn.Module, batch: Batch, virtual_tokens: int = 0) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the labelled tokens of `batch`, and how many there are.

    Position t predicts token t + 1, so logits are needed only at the positions followed by a label.
    Given as a boolean `logits_to_keep` mask, the model runs its LM head on those rows alone instead
    of batch x length x vocabulary (8 x 384 x 49,152 float32 = 604 MB, and as much again for the
    log-softmax and for its gradient). Same value as transformers' own loss from `labels`
    (tests/training/test_generator.py). `virtual_tokens`: see `virtual_tokens_prepended`."""
    labels = batch["labels"]
    targets = labels[:, 1:]
    learned = targets != IGNORE_INDEX
    rows = labels.size(0)
    keep = torch.cat([learned.new_zeros(rows, virtual_tokens), learned, learned.new_zeros(rows, 1)], dim=1)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    loss = nn.functional.cross_entropy(logits.float(), targets[learned], reduction="sum")
    return loss, int(learned.sum())


@torch.no_grad()
def completion_loss(model: nn.Module, tokenized: Sequence[dict[str, list[int]]], pad_id: int,
                    batch_size: int = 8) -> float:
    """Mean loss per completion token (prompt tokens excluded), over all examples."""
    model.eval()
    device = next(model.parameters()).device
    virtual_tokens = virtual_tokens_prepended(model)
    total, count = 0.0, 0
    for start in range(0, len(tokenized), batch_size):
        batch = {k: v.to(device) for k, v in pad_batch(tokenized[start:start + batch_size], pad_id).items()}
        loss, tokens = completion_token_loss(model, batch, virtual_tokens)
        total += loss.item()
        count += tokens
    return total / count if count else float("nan")


@torch.no_grad()
def generate_replies(model: nn.Module, tokenizer: Any, examples: Sequence[PromptCompletion],
                     max_new_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy replies to each example's prompt, generated by the engine the strategies answer with."""
    from workbench.generation import GenerationEngine, GenerationSettings

    model.eval()
    device = next(model.parameters()).device
    engine = GenerationEngine(LoadedGenerator("model in training", model, tokenizer, device),
                              GenerationSettings(max_new_tokens=max_new_tokens, batch_size=batch_size))
    prompts = [engine.encode(engine.render(list(e.messages))) for e in examples]
    return [generation.text.strip() for generation in engine.generate(prompts)]


def score(model: nn.Module, tokenizer: Any, eval_tokenized: Sequence[dict], eval_examples: Sequence[PromptCompletion],
          options: GeneratorOptions) -> dict[str, float]:
    """Eval loss on every held-out example, answer quality on the first `eval_generate`."""
    scores = {"eval_loss": completion_loss(model, eval_tokenized, tokenizer.pad_token_id, options.loop.batch_size)}
    sample = [e for e in eval_examples if e.messages][:options.eval_generate]  # documents have nothing to answer
    if sample:
        replies = generate_replies(model, tokenizer, sample, options.max_new_tokens, options.loop.batch_size)
        qa = mean_scores("qa", replies, [e.answers for e in sample])
        scores.update(exact_match=qa["exact_match"], token_f1=qa["token_f1"])
    return scores


def forgetting_probe(model: nn.Module, tokenizer: Any, general: Sequence[PromptCompletion],
                     options: GeneratorOptions) -> dict[str, Any]:
    """How much general ability a run costs, measured before and after training on general
    instructions: the completion loss and perplexity, and each greedy reply's ROUGE-L against the
    reference (kept per item, so that the change can be tested paired)."""
    tokenized, _ = tokenize_completions(general, tokenizer, options.max_length)
    loss = completion_loss(model, tokenized, tokenizer.pad_token_id)
    replies = generate_replies(model, tokenizer, general, options.max_new_tokens, options.loop.batch_size)
    rouge = [metrics.rouge(reply, example.answers)["rougeL"] for reply, example in zip(replies, general)]
    return {"loss": loss, "perplexity": math.exp(loss), "rougeL": metrics.mean(rouge), "rougeL_items": rouge}


# ---- training ---------------------------------------------------------------------------------------


def train_generator(examples: Sequence[PromptCompletion], options: GeneratorOptions, output: Path,
                    eval_examples: Sequence[PromptCompletion] | None = None,
                    general: Sequence[PromptCompletion] | None = None,
                    source: str = "training data", resume: bool = False,
                    progress: ProgressCallback | None = None, index: str | None = None) -> RunDir:
    """Finetune `options.model` on `examples` into the run folder `output`; returns the finished run;
    `progress` hears of every training step; `index`: the index whose corpus `examples` came from, if any.

    Without `eval_examples`, a seeded 10% is held out. With `general`, the summary reports the
    loss/perplexity on it before and after training (catastrophic forgetting)."""
    examples = list(examples)
    if eval_examples is None:
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(options.loop.seed)).tolist()
        n_eval = max(1, len(examples) // 10)
        eval_examples = [examples[i] for i in order[:n_eval]]
        examples = [examples[i] for i in order[n_eval:]]
    if len(examples) < options.loop.batch_size:
        raise RunError(f"{source}: {len(examples)} training examples, fewer than the batch size "
                       f"{options.loop.batch_size}; lower --batch-size")
    method = supervised_method(options.method)
    if options.loop.sharding == "fsdp" and not method.shardable:  # refused before the run folder exists
        shardable = ", ".join(m.name for m in generator_methods() if m.shardable)
        raise RunError(f"--sharding fsdp splits {shardable} runs over the processes, not {options.method}: "
                       "train it with --sharding none (each process holds the whole model)")
    quantize = method.quantization
    if quantize is not None:  # refused before the run folder exists: a base run, a missing bitsandbytes
        if options.base_run:
            raise RunError(f"--method {options.method} loads a pretrained model quantized; a run built on another "
                           f"run ({options.base_run}) starts from its merged float32 weights: train it with lora")
        quantize(options, resolve_device(options.loop.device))
    config = {"kind": "generator", "source": source, "train_examples": len(examples),
              "eval_examples": len(eval_examples), "options": asdict(options)}
    if index is not None:  # absent otherwise, as in runs from before it was recorded (they still resume)
        config["index"] = index
    with shared_run(output, config, resume, options.loop.device) as run:
        with ResourceMeter() as meter:
            torch.manual_seed(options.loop.seed)
            model, tokenizer = load_starting_point(options)
            train_tokenized, truncation = tokenize_completions(examples, tokenizer, options.max_length, options.mask_prompt)
            eval_tokenized, eval_truncation = tokenize_completions(eval_examples, tokenizer, options.max_length)
            truncation.warn("training examples", options.max_length)
            eval_truncation.warn("evaluation examples", options.max_length)
            if len(train_tokenized) < options.loop.batch_size or not eval_tokenized:
                raise RunError(f"{source}: {truncation.dropped} of {truncation.total} training and {eval_truncation.dropped} "
                               f"of {eval_truncation.total} evaluation examples have no answer left within max_length="
                               f"{options.max_length} tokens; raise training.generator.max_length (--max-length)")
            extra: dict[str, Any] = {}
            if general and run.writer:  # rank 0 measures; with several processes the others only train
                extra["forgetting"] = {"before": forgetting_probe(model, tokenizer, general, options)}
            if options.compare_untuned and run.writer:
                extra["untuned"] = score(model, tokenizer, eval_tokenized, eval_examples, options)
            model = apply_method(model, options)
            pad_to = options.max_length if options.pad_to_max_length else None
            loss = (partial(completion_token_loss, virtual_tokens=virtual_tokens_prepended(model))
                    if options.logits_on_labels_only else model_loss)
            state = fit(model, [{"params": [p for p in model.parameters() if p.requires_grad]}], train_tokenized,
                           lambda batch: pad_batch(batch, tokenizer.pad_token_id, pad_to),
                           [len(e["input_ids"]) for e in train_tokenized], options.loop, run,
                           lambda trained: score(trained, tokenizer, eval_tokenized, eval_examples, options),
                           resume=resume, progress_callback=progress, compute_loss=loss)
            sharded = is_sharded(model)  # then every process must take part in each forward and in the save
            if general and (run.writer or sharded):
                after = forgetting_probe(model, tokenizer, general, options)
                if run.writer:
                    extra["forgetting"]["after"] = after
            weights = trainable_state(model) if sharded else None
            saved = save_generator(model, tokenizer, options, run.path, weights) if run.writer else 0

        summary = {
            "kind": "generator", "method": options.method, "model": options.model,
            "gradient_checkpointing": model.is_activation_checkpointing,
            **parameter_counts(model), "saved_bytes": saved, **meter.report(),
            "train_seconds": round(state.train_seconds, 2),
            "examples_per_second": round(state.examples / state.train_seconds, 2) if state.train_seconds else None,
            "tokens_per_second": round(state.tokens / state.train_seconds, 1) if state.train_seconds else None,
            "steps": state.global_step, "epochs": len(state.history),
            "truncation": {"train": truncation.as_dict(), "eval": eval_truncation.as_dict()},
            "final": state.history[-1], **extra,
        }
        run.finish(summary)
    return run


def save_generator(model: nn.Module, tokenizer: Any, options: GeneratorOptions, folder: Path,
                   weights: dict[str, torch.Tensor] | None = None) -> int:
    """Save what the method trained (from `weights`, the trained parameters whole, if the model is sharded);
    returns its size on disk in bytes."""
    return folder_size(supervised_method(options.method).save(model, tokenizer, options, folder, weights))


# ---- using a trained generator ----------------------------------------------------------------------


def load_trained_generator(path: Path, device: str = "auto") -> LoadedGenerator:
    """The finetuned generator of a finished run: base + adapter, or the full model, in eval mode.

    A run started from another run (preference tuning's `base_run`) sits on that run's merged weights."""
    run = RunDir.open(path)
    config = run.config()
    options = config.options
    if config.kind != "generator" or options.model is None:
        raise RunError(f"{path}: a {config.kind} run, not a generator")
    name = f"{options.model}+{run.path.name}"
    if (run.path / MODEL_DIR).is_dir():
        model, tokenizer = load_base(str(run.path / MODEL_DIR), device)
        return LoadedGenerator(name, model.eval(), tokenizer, next(model.parameters()).device)
    if options.base_run:
        model, tokenizer = load_merged_run(Path(options.base_run), device)
    else:
        model, tokenizer = load_base(options.model, device)
    model = attach_adapter(model, run.path / ADAPTER_DIR, options.base_run or options.model)
    return LoadedGenerator(name, model.eval(), tokenizer, next(model.parameters()).device)


def root_model(base_run: str | Path) -> str:
    """The pretrained model a finished generator run sits on (a run built on another run records its root)."""
    config = RunDir.open(Path(base_run)).config()
    if config.kind != "generator":
        raise RunError(f"--base {base_run}: a {config.kind} run, not a generator run")
    return config.options.model


def load_merged_run(path: Path, device: str = "auto") -> tuple[nn.Module, Any]:
    """A finished generator run as plain trainable weights, its adapter merged in: what a run built on
    it (`base_run`) starts from. Only weight-delta adapters merge (`can_merge`: LoRA, IA3); the others
    (prompt and prefix tuning, bottleneck adapters) add modules."""
    method = RunDir.open(path).config().options.method
    complete = (path / MODEL_DIR).is_dir()
    if not complete and not open_adapter(path / ADAPTER_DIR)[1].can_merge:
        mergeable = " and ".join(m.name for m in generator_methods() if m.can_merge)
        raise RunError(f"{path}: a '{method}' run cannot be built on (its adapter adds modules; only "
                       f"{mergeable} adapters fold into the weights)")
    loaded = load_trained_generator(path, device)
    model = loaded.model if complete else loaded.model.merge_and_unload()
    return model.train(), loaded.tokenizer


def open_adapter(folder: Path) -> tuple[AdapterFolder, GeneratorMethod]:
    """The adapter saved in `folder`, and the method that loads it (by the type its config records)."""
    adapter = open_adapter_folder(folder)
    if adapter is None:
        raise RunError(f"{folder}: no adapter here (expected {PEFT_CONFIG} or {BOTTLENECK_CONFIG})")
    method = generator_method_for_adapter(adapter.adapter_type)
    if method is None:
        known = ", ".join(m.adapter_type for m in generator_methods() if m.adapter_type)
        raise RunError(f"{folder}: a {adapter.adapter_type} adapter, which no generator method loads (known: {known})")
    return adapter, method


def attach_adapter(model: nn.Module, folder: Path, base_name: str) -> nn.Module:
    """Put the adapter saved in `folder` on `model`, after checking it was trained on `base_name`."""
    adapter, method = open_adapter(folder)
    trained_on = adapter.base_model
    if trained_on and trained_on != base_name:
        raise RunError(f"{folder}: this adapter was trained on base model '{trained_on}', not '{base_name}'")
    try:
        return method.attach(model, folder)
    except RuntimeError as exc:  # shape mismatches: an adapter for another architecture
        raise RunError(f"{folder}: adapter does not fit base model '{base_name}': {str(exc).splitlines()[0]}") from None
    except SafetensorError as exc:
        raise RunError(f"{folder}: {exc}; the adapter's weights file is damaged (rerun the training)") from None
