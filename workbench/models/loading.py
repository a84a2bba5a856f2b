"""Load models once per process: every strategy, index and trainer shares the same copy (extra copies
only for adapters peft cannot load beside others, see workbench.generation.adapters)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch

from workbench.models.device import default_dtype, resolve_device
from workbench.models.registry import resolve, unavailable


@dataclass(frozen=True)
class LoadedGenerator:
    name: str
    model: "torch.nn.Module"
    tokenizer: object
    device: torch.device


def load_embedder(name: str, device: str = "auto"):
    """The process's shared `SentenceTransformer` for `name` (the embedded `minilm`, an id or a folder),
    one per device however the caller names it."""
    return _shared_embedder(name, str(resolve_device(device)))


@functools.lru_cache(maxsize=4)
def _shared_embedder(name: str, device: str):
    from sentence_transformers import SentenceTransformer

    source = resolve(name, "embedder")
    try:
        return SentenceTransformer(source, device=device)
    except OSError as exc:
        raise unavailable(name, exc) from None


def load_generator(name: str, device: str = "auto") -> LoadedGenerator:
    """The process's shared copy of the causal LM `name` (see `load_generator_copy`): `auto` and the
    device it picks, given or defaulted, are one cache entry, so no caller loads a second copy."""
    return _shared_generator(name, str(resolve_device(device)))


@functools.lru_cache(maxsize=2)
def _shared_generator(name: str, device: str) -> LoadedGenerator:
    return load_generator_copy(name, device)


def load_generator_copy(name: str, device: str = "auto") -> LoadedGenerator:
    """A causal LM and its tokenizer, in eval mode, on the chosen device (bf16 on CUDA); a fresh copy
    each call, for adapters that cannot share the cached one (workbench.generation.adapters)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve(name, "generator")
    target = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # hide the per-tensor "Loading weights" bar
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=default_dtype(target))
        finally:
            hf_logging.set_verbosity(verbosity)
    except OSError as exc:
        raise unavailable(name, exc) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(target).eval()
    logging.getLogger(__name__).debug("loaded %s on %s", name, target)
    return LoadedGenerator(name=name, model=model, tokenizer=tokenizer, device=target)
