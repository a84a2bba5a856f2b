"""Finetuned strategies: the zero-shot and RAG prompts, answered by a finetuned generator: the base
model with an adapter switched on (several adapters share one base model, see
workbench.generation.adapters), or a fully finetuned model on an engine of its own."""

from __future__ import annotations

from workbench.generation import AdapterError
from workbench.strategies.base import Strategy, ZeroShot
from workbench.strategies.rag import Rag


def _require_finetuned(strategy: Strategy) -> None:
    if strategy.variant is None:
        raise AdapterError(f"strategy '{strategy.name}' needs an adapter: pass --adapter PATH (or NAME=PATH), "
                           "an adapter folder or a `wb train generator` run folder")


class Finetuned(ZeroShot):
    name = "finetuned"
    finetuned = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _require_finetuned(self)


class RagFinetuned(Rag):
    name = "rag+finetuned"
    finetuned = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _require_finetuned(self)
