"""The generator finetuning methods: one entry (`GeneratorMethod`) per method, one module per entry.

Every module of this package whose name does not start with `_` defines `METHOD`, its entry; they are
found on first use, so a new method is one new file here. Methods defined elsewhere (a plugin, a test)
join with `register_generator_method`. Generic code (training/generator.py, generation/adapters.py,
the estimator, the CLI's choices) asks the registry instead of naming methods.

Importing this package, or any entry, loads no torch, transformers nor peft (`wb --help` builds its
choices from it): entries import them inside their functions.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from workbench.training.generator import GeneratorOptions

ADAPTER_DIR, MODEL_DIR = "adapter", "model"  # in a run folder: what an adapter method saves, what `full` saves


class Named(Protocol):
    name: str


Entry = TypeVar("Entry", bound=Named)


class MethodRegistry(Generic[Entry]):
    """The methods of one kind, by name: each module of `package` (but `_*` helpers) defines one as
    `METHOD`, imported on first use; `register` adds others."""

    def __init__(self, kind: str, package: str):
        self.kind = kind  # "generator method": how errors name an entry
        self.package = package
        self._entries: dict[str, Entry] = {}
        self._discovered = False
        self._lock = threading.RLock()

    def register(self, entry: Entry) -> Entry:
        """Add `entry`; a name is taken once (registering the same entry again changes nothing)."""
        with self._lock:
            self._discover()
            self._add(entry)
        return entry

    def get(self, name: str) -> Entry:
        """The entry called `name`; an unknown name is a `WorkbenchError` listing the known ones."""
        entries = self._all()
        if name not in entries:
            raise WorkbenchError(f"unknown {self.kind} '{name}' (known: {', '.join(entries)})")
        return entries[name]

    def entries(self) -> list[Entry]:
        """Every entry: the package's modules in name order, then the registered ones."""
        return list(self._all().values())

    def _all(self) -> dict[str, Entry]:
        with self._lock:
            self._discover()
            return dict(self._entries)

    def _discover(self) -> None:
        if self._discovered:
            return
        package = importlib.import_module(self.package)
        for module_info in pkgutil.iter_modules(package.__path__):
            if module_info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{self.package}.{module_info.name}")
            if not hasattr(module, "METHOD"):
                raise TypeError(f"{module.__name__}: every module of {self.package} defines its entry as METHOD")
            self._add(module.METHOD)
        self._discovered = True

    def _add(self, entry: Entry) -> None:
        known = self._entries.get(entry.name)
        if known is not None and known is not entry:
            raise WorkbenchError(f"{self.kind} '{entry.name}' is already registered")
        self._entries[entry.name] = entry


# ---- generator methods ----------------------------------------------------------------------------------

Apply = Callable[["nn.Module", "GeneratorOptions"], "nn.Module"]
Save = Callable[["nn.Module", Any, "GeneratorOptions", Path, "dict[str, torch.Tensor] | None"], Path]
Attach = Callable[["nn.Module", Path], "nn.Module"]
Quantize = Callable[["GeneratorOptions", "torch.device"], Any]


@dataclass(frozen=True)
class GeneratorMethod:
    """Everything about one way of finetuning the generator."""

    name: str  # `training.generator.method`, `wb train generator --method`
    description: str  # one line, for help texts and lists
    objective: Literal["supervised", "preference"] = "supervised"
    # supervised methods: make `model` trainable for the method (everything not trained frozen) and
    # return what to train. Preference methods have none: workbench.preference trains them with TRL.
    apply: Apply | None = None
    # write what trained into the run folder; returns the file or folder written (its size is reported).
    # Its last argument: the trained parameters whole, given when the model trained sharded (then its own
    # tensors are this process's shards); None otherwise, and always for methods that are not `shardable`.
    save: Save | None = None
    # put the adapter saved in a folder on its base model (the base model checked by the caller);
    # None: the method saves a complete model (RUN_DIR/model/), loaded as it is
    attach: Attach | None = None
    # the type its adapter folder records (peft's `peft_type`, or BOTTLENECK for ours): how a folder is
    # recognised as this method's, run folder or not. Preference runs save a `lora` or `full` one.
    adapter_type: str | None = None
    # the adapter is a weight delta that peft's `merge_and_unload` folds into the base weights, so that
    # another run can start from the run (`base_run`)
    can_merge: bool = False
    shares_batch: bool = False  # its adapters answer in one generation batch with each other and the base model
    checkpointing: bool = True  # can recompute block activations in the backward pass (gradient checkpointing)
    shardable: bool = False  # FSDP can split it over the training processes (training.sharding: fsdp)
    # the base model loads quantized for training: the transformers quantization config for the options and
    # the device (QLoRA: 4-bit NF4). None: in float32. A finished run answers on the float32 base all the same.
    quantization: Quantize | None = None


_GENERATOR_METHODS: MethodRegistry[GeneratorMethod] = MethodRegistry("generator method", __name__)


def register_generator_method(entry: GeneratorMethod) -> GeneratorMethod:
    """Add a method defined outside this package; returns it."""
    return _GENERATOR_METHODS.register(entry)


def generator_method(name: str) -> GeneratorMethod:
    """The entry of method `name`; an unknown name is a `WorkbenchError` listing the known ones."""
    return _GENERATOR_METHODS.get(name)


def generator_methods() -> list[GeneratorMethod]:
    return _GENERATOR_METHODS.entries()


def generator_method_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in generator_methods())


def generator_method_for_adapter(adapter_type: str) -> GeneratorMethod | None:
    """The method whose adapter folders record `adapter_type`, or None when none does."""
    return next((entry for entry in generator_methods() if entry.adapter_type == adapter_type), None)
