"""Load models: a fresh copy each call here; `workbench.models.pool.ModelPool` shares them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from workbench.models.device import default_dtype, resolve_device
from workbench.models.prompt_format import load_tokenizer
from workbench.models.registry import resolve, unavailable


@dataclass(frozen=True)
class LoadedGenerator:
    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device


def load_embedder(name: str, device: str = "auto"):
    """The process's shared `SentenceTransformer` for `name` (the embedded `minilm`, an id or a folder),
    from the default `ModelPool`."""
    from workbench.models.pool import ModelPool

    return ModelPool.default().embedder(name, device)


def load_embedder_copy(name: str, device: str):
    """A `SentenceTransformer` for `name` on `device`, loaded now (the pool shares it)."""
    from sentence_transformers import SentenceTransformer

    source = resolve(name, "embedder")
    try:
        return SentenceTransformer(source, device=device)
    except OSError as exc:
        raise unavailable(name, exc) from None


def load_generator(name: str, device: str = "auto") -> LoadedGenerator:
    """The shared inference copy of the causal LM `name` in the process's default `ModelPool` (a
    session has a pool of its own: `Workbench.models`)."""
    from workbench.models.pool import ModelPool

    return ModelPool.default().generator(name, device)


def load_generator_copy(name: str, device: str = "auto") -> LoadedGenerator:
    """A causal LM and its tokenizer, in eval mode, on the chosen device (bf16 on CUDA); a fresh copy
    each call, for adapters that cannot share the cached one (workbench.generation.adapters)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    source = resolve(name, "generator")
    target = resolve_device(device)
    tokenizer = load_tokenizer(source, name)
    try:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # hide the per-tensor "Loading weights" bar
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=default_dtype(target))
        finally:
            hf_logging.set_verbosity(verbosity)
    except OSError as exc:
        raise unavailable(name, exc) from None
    model.to(target).eval()
    fast_output_layer(model)
    logging.getLogger(__name__).debug("loaded %s on %s", name, target)
    return LoadedGenerator(name=name, model=model, tokenizer=tokenizer, device=target)


def fast_output_layer(model: torch.nn.Module) -> None:
    """On the CPU, compute the output layer (hidden state → vocabulary logits, the largest matrix of a
    small model) with oneDNN instead of MKL, which is slow on this shape (the layer alone: 2x). With
    SmolLM2-135M, timed in alternation, a decoding step is 7 % faster and a batch-5 step (side by side)
    11 %; logits agree to 1e-6 and greedy answers are unchanged (bench/results/serving.md). For the
    shared inference models only: the layer's weight becomes a frozen oneDNN copy (the input embedding
    it may be tied to stays), which peft cannot merge into nor train."""
    from torch.utils.mkldnn import MkldnnLinear

    head = model.get_output_embeddings()
    if (type(head) is torch.nn.Linear and head.weight.device.type == "cpu" and head.weight.dtype == torch.float32
            and torch.backends.mkldnn.is_available()):
        with torch.no_grad():
            model.set_output_embeddings(MkldnnLinear(head, torch.float32))
