"""Memory, time and serving cost of a finetuning setting, before any weight is loaded.

Every formula is in docs/estimate.md. In short:
- parameters: counted on the meta-device model with the method applied (`architecture`);
- memory: frozen weights in their dtype (4-bit NF4 for QLoRA's block linears); each trainable
  parameter 16 bytes (a float32 copy, its gradient, AdamW's two moments); activations as traced on fake
  tensors; during the backward pass, one block's recomputed activations (checkpointing) and the
  gradient of the logits;
- time: traced FLOPs (forward, backward, recomputation) over the device's peak at a stated
  utilisation, plus the optimizer's pass over its states at memory bandwidth;
- serving: prompt tokens of RAG (k chunks) against a finetuned model (none), the KV cache, and the
  seconds per query: prefill at the compute rate, each new token at the rate weights stream from memory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.estimate.architecture import (
    METHODS,
    ParameterCounts,
    build_on_meta,
    count_parameters,
    load_architecture,
    trace_step,
)
from workbench.estimate.devices import Device, get_device
from workbench.models.methods import generator_method

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# bytes per NF4 weight: 4 bits and a float32 absmax per block of 64; double-quantised (training.qlora.double_quant),
# the absmax in 8 bits with a float32 scale per 256 of them
NF4_BYTES = {True: (4 + 8 / 64 + 32 / (64 * 256)) / 8, False: (4 + 32 / 64) / 8}
TRAINABLE_BYTES = {"weight": 4, "gradient": 4, "optimizer": 8}  # float32 master, gradient, AdamW m and v
OPTIMIZER_TRAFFIC = 28  # bytes AdamW reads and writes per trainable parameter and step
CHARS_PER_TOKEN = 4  # to turn character chunk sizes into tokens when no index says better


@dataclass(frozen=True)
class Setting:
    """Everything an estimate depends on, resolved from the config (`Setting.from_config`)."""

    model: str
    method: str
    objective: str
    device: str
    dtype: str
    batch_size: int
    seq_len: int
    completion_tokens: int
    gradient_checkpointing: bool
    last_n: int
    dataset_tokens: int
    epochs: int
    utilisation: float
    price_per_hour: float
    k: int
    chunk_tokens: int
    question_tokens: int
    answer_tokens: int
    system_tokens: int
    generator_options: Any = field(repr=False)  # GeneratorOptions: LoRA rank and targets, virtual tokens...

    @classmethod
    def from_config(cls, config: Config, chunk_tokens: int | None = None) -> Setting:
        """What `wb train generator` would run with this config, on `estimate.device`; `chunk_tokens`:
        the mean chunk length of an index when one is known (else `chunking.chunk_size` in tokens)."""
        from workbench.preference import PREFERENCE_METHODS
        from workbench.training.generator import GeneratorOptions

        section, training = config.estimate, config.training.generator
        # dpo and rloo train their `training.preference.adapter`; `estimate.objective` says whether as DPO
        parametrisation = config.training.preference.adapter if training.method in PREFERENCE_METHODS else training.method
        method = section.method or parametrisation
        device = get_device(section.device)
        model = section.model or config.models.generator
        trains_as = METHODS[method].as_generator_method or parametrisation
        options = GeneratorOptions.from_config(config.updated({"training.generator.method": trains_as}))
        chunk_size = config.chunking.chunk_size
        return cls(
            model=model, method=method, objective=section.objective, device=device.name,
            dtype=device.dtype if section.dtype == "auto" else section.dtype,
            batch_size=training.batch_size, seq_len=training.max_length,
            completion_tokens=min(section.completion_tokens or training.max_length, training.max_length),
            gradient_checkpointing=training.gradient_checkpointing and generator_method(trains_as).checkpointing,
            last_n=config.training.classifier.last_n, dataset_tokens=section.dataset_tokens, epochs=training.epochs,
            utilisation=section.utilisation or device.utilisation,
            price_per_hour=device.price_per_hour if section.price_per_hour is None else section.price_per_hour,
            k=config.retrieval.k,
            chunk_tokens=chunk_tokens or (chunk_size if config.chunking.splitter == "token" else chunk_size // CHARS_PER_TOKEN),
            question_tokens=section.question_tokens, answer_tokens=config.generation.max_new_tokens,
            system_tokens=len(config.generation.system_prompt) // CHARS_PER_TOKEN,
            generator_options=dataclasses.replace(options, model=model),
        )


@dataclass(frozen=True)
class Serving:
    """One query answered by RAG (k chunks in the prompt) and by a finetuned model (none)."""

    rag_prompt_tokens: int
    finetuned_prompt_tokens: int
    answer_tokens: int
    kv_cache_bytes_per_token: int
    rag_seconds_per_query: float
    finetuned_seconds_per_query: float
    rag_flops_per_query: float
    finetuned_flops_per_query: float
    base_model_bytes: int  # one copy of the weights in the serving dtype
    per_task_bytes: int  # what each further task adds: a full copy, or the adapter


@dataclass(frozen=True)
class Estimate:
    setting: dict[str, Any]
    device: Device
    parameters: ParameterCounts
    memory: dict[str, int]  # part -> bytes at the peak of a training step
    flops_per_step: float
    seconds_per_step: float
    steps: int
    serving: Serving

    @property
    def peak_memory(self) -> int:
        return sum(self.memory.values())

    @property
    def fits(self) -> bool:
        return self.peak_memory <= self.device.memory_bytes

    @property
    def train_seconds(self) -> float:
        return self.seconds_per_step * self.steps

    @property
    def train_cost(self) -> float:
        return self.train_seconds / 3600 * self.setting["price_per_hour"]

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "device": dataclasses.asdict(self.device),
                "parameters": dataclasses.asdict(self.parameters), "memory": self.memory,
                "peak_memory": self.peak_memory, "fits": self.fits, "flops_per_step": self.flops_per_step,
                "seconds_per_step": self.seconds_per_step, "steps": self.steps,
                "train_seconds": self.train_seconds, "train_cost": self.train_cost,
                "serving": dataclasses.asdict(self.serving)}


def estimate(setting: Setting) -> Estimate:
    """Memory by part, step time, training time and serving cost of `setting`."""
    device = get_device(setting.device)
    dtype = DTYPES[setting.dtype]
    architecture = load_architecture(setting.model)
    method = METHODS[setting.method]
    counts = count_parameters(build_on_meta(architecture, setting.method, setting.generator_options, dtype,
                                            setting.last_n))
    pairs = 2 if setting.objective == "dpo" else 1  # DPO: a chosen and a rejected sequence per example
    batch = setting.batch_size * pairs
    nf4_bytes = NF4_BYTES[setting.generator_options.double_quant] if method.quantized else None
    memory = {"weights": _weight_bytes(counts, dtype, nf4_bytes)}
    flops, seconds, steps = 0.0, 0.0, 0
    if method.trains:
        step = _trace(setting, batch, setting.gradient_checkpointing)
        memory["gradients"] = counts.trainable * TRAINABLE_BYTES["gradient"]
        memory["optimizer"] = counts.trainable * TRAINABLE_BYTES["optimizer"]
        memory["activations"] = step.activation_bytes
        # The backward pass also holds the logits' gradient (float32) and, with checkpointing, one
        # block's activations recomputed at a time.
        memory["backward"] = batch * setting.completion_tokens * architecture.vocab_size * 4
        if setting.gradient_checkpointing:
            memory["backward"] += _trace(setting, batch, False).block_activation_bytes
        flops = step.flops
        if setting.objective == "dpo":
            if setting.method == "full":  # a frozen reference copy; with PEFT the reference is the base, adapters off
                memory["reference model"] = counts.total * dtype.itemsize
            flops += _trace(setting, batch, setting.gradient_checkpointing, backward=False).flops
        seconds = (flops / (device.peak_flops * setting.utilisation)
                   + counts.trainable * OPTIMIZER_TRAFFIC / device.bandwidth)
        steps = math.ceil(setting.dataset_tokens * pairs / (batch * setting.seq_len)) * setting.epochs
    return Estimate({k: v for k, v in dataclasses.asdict(setting).items() if k != "generator_options"}, device,
                    counts, memory, flops, seconds, steps, _serving(setting, architecture, counts, device, dtype))


def _weight_bytes(counts: ParameterCounts, dtype: torch.dtype, nf4_bytes: float | None) -> int:
    """Frozen weights in `dtype` (QLoRA: the blocks' linear layers at `nf4_bytes` each); trainable ones in float32."""
    frozen = counts.total - counts.trainable
    if nf4_bytes is not None:
        frozen_bytes = counts.frozen_block_linear * nf4_bytes + (frozen - counts.frozen_block_linear) * dtype.itemsize
    else:
        frozen_bytes = frozen * dtype.itemsize
    return int(frozen_bytes + counts.trainable * TRAINABLE_BYTES["weight"])


@dataclass(frozen=True)
class _Traced:
    activation_bytes: int
    block_activation_bytes: int  # what one more block adds
    flops: float


def _trace(setting: Setting, batch: int, checkpointing: bool, backward: bool = True) -> _Traced:
    options = dataclasses.replace(setting.generator_options, gradient_checkpointing=checkpointing)
    return _trace_blocks(setting.model, setting.method, options, setting.last_n, setting.dtype, batch,
                         setting.seq_len, setting.completion_tokens, backward)


@functools.lru_cache(maxsize=64)
def _trace_blocks(model: str, method: str, options: Any, last_n: int, dtype: str, batch: int, seq_len: int,
                  labelled: int, backward: bool) -> _Traced:
    """One step traced on copies with one and two (frozen) blocks more than the trained top blocks of
    `last-n` (none for other methods), extrapolated to every block: the blocks are alike, so each adds
    the same activations and FLOPs."""
    architecture = load_architecture(model)
    layers = architecture.num_hidden_layers
    top = last_n if method == "last-n" else 0
    if top >= layers:
        raise WorkbenchError(f"last-n: {top} blocks train, but '{model}' has only {layers}")
    small, large = (trace_step(build_on_meta(_with_layers(architecture, top + extra), method, options, DTYPES[dtype],
                                             last_n), batch, seq_len, labelled, backward) for extra in (1, 2))
    per_block = large.activation_bytes - small.activation_bytes
    more = layers - top - 1
    return _Traced(small.activation_bytes + more * per_block, per_block, small.flops + more * (large.flops - small.flops))


def _with_layers(architecture: Any, layers: int) -> Any:
    from transformers import AutoConfig

    data = architecture.to_dict()
    data["num_hidden_layers"] = layers
    if isinstance(data.get("layer_types"), list):
        data["layer_types"] = data["layer_types"][:layers]
    return AutoConfig.for_model(data.pop("model_type"), **data)


def _serving(setting: Setting, architecture: Any, counts: ParameterCounts, device: Device, dtype: torch.dtype) -> Serving:
    """Prefill runs at the compute rate; each generated token reads every weight once (memory-bound),
    the KV cache growing with the prompt."""
    layers = architecture.num_hidden_layers
    heads = architecture.num_attention_heads
    head_dim = getattr(architecture, "head_dim", None) or architecture.hidden_size // heads
    kv_heads = getattr(architecture, "num_key_value_heads", None) or heads
    kv_per_token = 2 * layers * kv_heads * head_dim * dtype.itemsize
    matmul_params = counts.total - counts.embedding * (1 if architecture.tie_word_embeddings else 0)
    weight_bytes = counts.total * dtype.itemsize
    finetuned_prompt = setting.system_tokens + setting.question_tokens
    rag_prompt = finetuned_prompt + setting.k * setting.chunk_tokens

    def per_query(prompt: int) -> tuple[float, float]:
        attention = 4 * layers * heads * head_dim * prompt * prompt / 2  # causal: half the score matrix
        prefill = 2 * matmul_params * prompt + attention
        decode = 2 * matmul_params * setting.answer_tokens
        rate = device.peak_flops * setting.utilisation
        seconds = prefill / rate + setting.answer_tokens * max(
            (weight_bytes + kv_per_token * (prompt + setting.answer_tokens)) / device.bandwidth,
            2 * matmul_params / rate)
        return prefill + decode, seconds

    rag_flops, rag_seconds = per_query(rag_prompt)
    finetuned_flops, finetuned_seconds = per_query(finetuned_prompt)
    per_task = {"none": 0, "full": weight_bytes}.get(setting.method, counts.trainable * 4)
    return Serving(rag_prompt, finetuned_prompt, setting.answer_tokens, kv_per_token, rag_seconds, finetuned_seconds,
                   rag_flops, finetuned_flops, weight_bytes, per_task)
