"""The models a session has loaded, shared by every strategy, index and evaluation that asks for them.

Two rules, and a budget:
- A model is never unloaded behind a caller that uses it. The pool keeps only a weak reference to
  what it hands out, so a model stays in memory exactly as long as some strategy, engine or index
  holds it, and while it does, everyone asking for the same model gets that one copy.
- The pool also keeps recently used models alive for the next request (a server, the UI), within
  `budget_mb` (config `models.memory_mb`, parameter bytes): when a load would exceed it, the least
  recently used models nobody else holds are let go first. Models in use are never counted out.
- What the pool hands out is for inference. Whatever it changes on a model (a faster output layer on
  the CPU, adapters that stay disabled unless a generation names them: workbench.generation.adapters)
  leaves it answering exactly as the plain model, for every caller. Training loads its own copy.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from workbench.config import default_setting
from workbench.models.device import resolve_device

T = TypeVar("T")
_DEFAULT_LOCK = threading.Lock()


def model_bytes(model: Any) -> int:
    """Parameter and buffer bytes of a torch module (or of a loaded generator's model)."""
    module = getattr(model, "model", model)
    tensors = [*module.parameters(), *module.buffers()] if hasattr(module, "parameters") else []
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelPool:
    """Loaded models by key, shared while in use, kept for reuse within `budget_mb`."""

    _default: ModelPool | None = None

    def __init__(self, budget_mb: int):
        self.budget_mb = budget_mb
        self._live: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
        self._kept: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # strong references, oldest first
        self._lock = threading.RLock()
        self._copies = 0  # extra copies loaded so far: each gets its own key

    @classmethod
    def default(cls, budget_mb: int | None = None) -> ModelPool:
        """The process's pool: every session's unless it is given another, and that of callers below the
        session that are not given one (the embedder behind every index), so a process loads each model
        once. `budget_mb`: the budget from now on (the latest session's `models.memory_mb`)."""
        with _DEFAULT_LOCK:
            if cls._default is None:
                cls._default = cls(budget_mb or default_setting("models.memory_mb"))
            elif budget_mb is not None:
                cls._default.budget_mb = budget_mb
            return cls._default

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model under `key`, loaded with `load()` only if nobody holds it and it was not kept."""
        with self._lock:
            model = self._live.get(key)
            if model is None:
                model = load()
                self._live[key] = model
            self._keep(key, model)
            return model

    def generator(self, name: str, device: str = "auto"):
        """The shared inference copy of causal LM `name` (embedded name, Hugging Face id or folder):
        `auto` and the device it picks are one entry, so no caller loads a second copy."""
        from workbench.models.loading import load_generator_copy

        target = str(resolve_device(device))
        return self.get(("generator", name, target), lambda: load_generator_copy(name, target))

    def embedder(self, name: str, device: str = "auto"):
        """The shared `SentenceTransformer` for `name`, one per device however the caller names it."""
        from workbench.models.loading import load_embedder_copy

        target = str(resolve_device(device))
        return self.get(("embedder", name, target), lambda: load_embedder_copy(name, target))

    def extra_copies(self, name: str, device: str) -> list:
        """The extra inference copies of generator `name` on `device` in memory, oldest first: models
        for adapters that peft cannot switch beside those on the shared copy (workbench.generation.adapters)."""
        with self._lock:
            found = [(key[3], model) for key, model in self._live.items()
                     if isinstance(key, tuple) and key[:3] == ("copy", name, device)]
        return [model for _, model in sorted(found, key=lambda pair: pair[0])]

    def new_extra_copy(self, name: str, device: str):
        """Load one more extra copy of generator `name` on `device` (see `extra_copies`)."""
        from workbench.models.loading import load_generator_copy

        with self._lock:
            self._copies += 1
            return self.get(("copy", name, device, self._copies), lambda: load_generator_copy(name, device))

    def kept_mb(self) -> float:
        return sum(size for _, size in self._kept.values()) / 2**20

    def generators(self) -> list:
        """The generators in memory through this pool (shared copies and extra ones)."""
        return [model for key, model in list(self._live.items()) if isinstance(key, tuple) and key[0] in ("generator", "copy")]

    def loaded(self) -> list[Hashable]:
        """The keys of every model in memory through this pool (kept or held by a caller)."""
        return list(self._live.keys())

    def _keep(self, key: Hashable, model: Any) -> None:
        """Remember `model` as the most recently used; let the oldest kept ones go beyond the budget
        (they stay loaded if a caller still holds them)."""
        size = self._kept.pop(key, (None, None))[1]
        self._kept[key] = (model, model_bytes(model) if size is None else size)
        while len(self._kept) > 1 and self.kept_mb() > self.budget_mb:
            self._kept.popitem(last=False)
