"""Text encoders to put a classification head on: the embedded MiniLM, the embedded SmolLM2, any HF model.

An encoder (MiniLM, BERT) is mean-pooled over its tokens, as sentence-transformers does; a decoder
(SmolLM2, any causal LM) is read at its last real token, the only one that has seen the whole text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from workbench.models import EMBEDDER, GENERATOR
from workbench.models.registry import embedder_source, resolve, unavailable

Pooling = Literal["mean", "last"]


@dataclass
class Backbone:
    name: str
    model: nn.Module
    tokenizer: Any
    pooling: Pooling

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size


def load_backbone(name: str) -> Backbone:
    """A fresh (trainable, not shared) copy of the backbone `name`: `minilm`, `smollm2-135m-instruct`, an id or folder."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if name == EMBEDDER:
        source = str(embedder_source())
    elif name == GENERATOR:
        source = resolve(name, "generator")
    else:
        source = resolve(name, "embedder")
    try:
        config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source, dtype=torch.float32)
    except OSError as exc:
        raise unavailable(name, exc) from None
    # transformers 5 sets `is_decoder` only on configs that have the flag (BERT-like), not on Llama's.
    is_decoder = getattr(config, "is_decoder", False) or any(a.endswith("ForCausalLM") for a in config.architectures or [])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Backbone(name, model, tokenizer, "last" if is_decoder else "mean")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """One vector per text from the token states (right-padded batches)."""
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    last = attention_mask.sum(1) - 1
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
