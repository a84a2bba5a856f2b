"""The model an estimate is about, built without its weights, and one training step traced on it.

Parameters are counted on a model built on the meta device with the finetuning method applied by the
same code that trains (`workbench.training.generator.apply_method`), so trainable counts are exact for
any architecture transformers knows. Activation memory and FLOPs come from running one training step
on fake tensors (`torch._subclasses.fake_tensor`): shapes and dtypes only, no memory, dispatched as on
a CPU. Autograd's saved-tensor hooks see exactly what this torch and transformers keep for the
backward pass (checkpointing, frozen weights, dropout masks included), and torch's FLOP counter sees
every matrix multiply of the forward, the backward and the recomputation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models import GEMMA3, SMOLLM2
from workbench.models.bottleneck import transformer_blocks
from workbench.models.methods import generator_methods

ARCHITECTURES_DIR = Path(__file__).parent / "architectures"
# The embedded generators' architectures ship here: an estimate needs no conversion of their GGUF files.
ALIASES = {SMOLLM2: "smollm2-135m", GEMMA3: "gemma-3-270m"}


def shipped_architectures() -> list[str]:
    """Names of the config.json files shipped for offline estimates (SmolLM2, Gemma 3, Qwen2.5, Llama 3, Mistral)."""
    return sorted(path.stem for path in ARCHITECTURES_DIR.glob("*.json"))


def load_architecture(name: str) -> Any:
    """The transformers config of `name`: a shipped architecture, the embedded generator, a model folder,
    a config.json file, or a Hugging Face id (from the local cache when offline)."""
    from transformers import AutoConfig

    shipped = ARCHITECTURES_DIR / f"{ALIASES.get(name, name)}.json"
    path = Path(name).expanduser()
    source = shipped if shipped.is_file() else path
    if source.is_file():
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"{source}: not a readable config.json ({exc})") from None
        if "model_type" not in data:
            raise WorkbenchError(f"{source}: no 'model_type' key, so not a transformers config.json")
        try:
            return AutoConfig.for_model(data.pop("model_type"), **data)
        except ValueError as exc:
            raise WorkbenchError(f"{source}: {exc}") from None
    try:
        return AutoConfig.from_pretrained(str(path) if path.is_dir() else name)
    except (OSError, ValueError) as exc:
        known = ", ".join(shipped_architectures())
        raise WorkbenchError(f"model '{name}': no config found (shipped: {known}; or give a folder, a "
                             f"config.json or a cached Hugging Face id). Cause: {str(exc).splitlines()[0]}") from None


# ---- methods: what trains ----------------------------------------------------------------------------

Prepare = Callable[[nn.Module, Any, int], nn.Module]  # (model, GeneratorOptions, last_n) -> model


def _generator_method(model: nn.Module, options: Any, last_n: int) -> nn.Module:
    from workbench.training.generator import apply_method

    return apply_method(model, options)


def _output_layer(model: nn.Module, options: Any, last_n: int) -> nn.Module:
    """Only the output layer trains (with tied embeddings, that is the embedding matrix too)."""
    _checkpointing(model, options)
    model.requires_grad_(False)
    model.get_output_embeddings().requires_grad_(True)
    return model


def _last_blocks(model: nn.Module, options: Any, last_n: int) -> nn.Module:
    """The last `last_n` transformer blocks and the final norm train."""
    _checkpointing(model, options)
    model.requires_grad_(False)
    for block in transformer_blocks(model)[-last_n:]:
        block.requires_grad_(True)
    norm = getattr(model.get_decoder(), "norm", None)
    if norm is not None:
        norm.requires_grad_(True)
    return model


def _nothing(model: nn.Module, options: Any, last_n: int) -> nn.Module:
    return model.requires_grad_(False)


def _checkpointing(model: nn.Module, options: Any) -> None:
    if options.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})


@dataclass(frozen=True)
class Method:
    prepare: Prepare
    quantized: bool = False  # the frozen linear weights of the blocks are stored in 4 bits (the method's `quantization`: QLoRA)
    trains: bool = True
    as_generator_method: str | None = None  # the `training.generator.method` it runs as


METHODS: dict[str, Method] = {
    # every supervised method of the generator trainer (workbench.models.methods), applied as it trains
    **{entry.name: Method(_generator_method, quantized=entry.quantization is not None, as_generator_method=entry.name)
       for entry in generator_methods() if entry.objective == "supervised"},
    # the estimator's own profiles (workbench.estimate.PROFILES)
    "head": Method(_output_layer),
    "last-n": Method(_last_blocks),
    "none": Method(_nothing, trains=False),  # RAG only: nothing trains, the estimate is about serving
}


def build_on_meta(architecture: Any, method: str, options: Any, dtype: torch.dtype, last_n: int = 2) -> nn.Module:
    """The model with `method` applied, every tensor on the meta device (no memory, no weights);
    `options`: the `GeneratorOptions` (LoRA rank and targets, virtual tokens, checkpointing)."""
    from transformers import AutoModelForCausalLM

    if method not in METHODS:
        raise WorkbenchError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(architecture, dtype=dtype)
    return METHODS[method].prepare(model, options, last_n)


@dataclass(frozen=True)
class ParameterCounts:
    total: int
    trainable: int
    frozen_block_linear: int  # frozen weights of the blocks' linear layers: what QLoRA stores in 4 bits
    embedding: int  # input embedding (and the output layer when tied)


def count_parameters(model: nn.Module) -> ParameterCounts:
    """Every parameter once (tied ones are one tensor), and which of them train."""
    params = {id(p): p for p in model.parameters()}.values()
    blocks = transformer_blocks(model)
    block_linear = {id(m.weight) for block in blocks for m in block.modules()
                    if isinstance(m, nn.Linear) and not m.weight.requires_grad}
    return ParameterCounts(
        total=sum(p.numel() for p in params),
        trainable=sum(p.numel() for p in params if p.requires_grad),
        frozen_block_linear=sum(p.numel() for p in params if id(p) in block_linear),
        embedding=model.get_input_embeddings().weight.numel(),
    )


# ---- one training step on fake tensors ---------------------------------------------------------------


@dataclass(frozen=True)
class StepTrace:
    activation_bytes: int  # what autograd keeps from the forward (and the loss) for the backward pass
    flops: int  # forward + loss + backward (+ recomputation with checkpointing)


def trace_step(model: nn.Module, batch_size: int, seq_len: int, labelled: int, backward: bool = True) -> StepTrace:
    """Run one training step of `model` (built by `build_on_meta`) on fake tensors: `batch_size`
    padded sequences of `seq_len` tokens, the loss on the last `labelled` of each (the completion).
    The model's tensors are replaced by fake ones; build a new model for another trace."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)  # plain tensor attributes (peft's prompt token ids)
    _fake_tensors(model, mode)
    parameters = {id(p) for p in model.parameters()}
    saved: dict[int, torch.Tensor] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        base = tensor._base if tensor._base is not None else tensor
        if id(base) not in parameters:
            saved[id(base)] = base  # views of one tensor share its memory: count it once
        return tensor

    model.train()
    with mode, FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION_FLOPS) as counter:
        input_ids = torch.zeros(batch_size, seq_len, dtype=torch.long)
        attention_mask = torch.ones(batch_size, seq_len, dtype=torch.long)
        targets = torch.zeros(batch_size * labelled, dtype=torch.long)
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
            logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=labelled).logits
            loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), targets)
        activation_bytes = sum(t.untyped_storage().nbytes() for t in saved.values())
        if backward and loss.requires_grad:
            loss.backward()
    return StepTrace(activation_bytes, counter.get_total_flops())


def _fake_tensors(model: nn.Module, mode: Any) -> None:
    """Swap every parameter and buffer for a fake CPU tensor of its shape and dtype (ties kept)."""
    fakes: dict[int, torch.Tensor] = {}
    with mode:
        for module in model.modules():
            for name, tensor in module._parameters.items():
                if tensor is not None:
                    if id(tensor) not in fakes:
                        fakes[id(tensor)] = nn.Parameter(torch.empty(tensor.shape, dtype=tensor.dtype),
                                                         requires_grad=tensor.requires_grad)
                    module._parameters[name] = fakes[id(tensor)]
            for name, tensor in module._buffers.items():
                if tensor is not None:
                    module._buffers[name] = torch.empty(tensor.shape, dtype=tensor.dtype)


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch counts the GPU attention kernels but not the CPU one the fake tensors dispatch to.
_CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}
