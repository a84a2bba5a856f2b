"""Adapters on the shared copy of a base model (or on extra copies of it): load several, switch per request.

PEFT adapters (LoRA, IA3, prompt and prefix tuning) and workbench's bottleneck adapters
(workbench.models.bottleneck) both inject their layers into the base model in place, so the base model
object that `load_generator` shares with the rest of the process is the one that carries them. To keep
that shared object behaving as the plain base model, adapter layers stay disabled at rest and are
enabled only inside `activate(key)`, which also holds a lock: one generation at a time per model.

peft combines adapters of one type only, so each type gets its own PeftModel around the same base
model. Prompt-learning adapters (prompt, prefix tuning) add no layers to the base, bottleneck adapters
switch their own layers; but layer-injecting PEFT types (LoRA, IA3) switch their layers all together,
so only one of those types can be loaded per model object (`AdapterSet.load` raises `AdapterConflict`).
`place_adapter` then loads the adapter on an extra copy of the base model, within a memory limit
(config `models.extra_copies_mb`). Extra copies live in the session's model pool like the base model:
shared while a strategy answers on one, let go when none does.

Adapters of a method with `shares_batch` (workbench.models.methods: LoRA) also share a batch with
each other and with the base model (`activate_rows`: peft's mixed-adapter batches route each row
through the adapter it names), which lets the side-by-side view answer the base-model strategies and
the LoRA-finetuned ones in one generation.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from workbench.errors import WorkbenchError
from workbench.generation.batching import BatchScheduler
from workbench.models import LoadedGenerator
from workbench.models.adapter_files import BOTTLENECK, open_adapter_folder
from workbench.models.bottleneck import BOTTLENECK_CONFIG, load_bottleneck, set_active_bottleneck
from workbench.models.methods import generator_method_for_adapter
from workbench.models.pool import ModelPool
from workbench.models.registry import resolve

BASE_ROW = "__base__"  # peft's adapter name for a row answered by the base model


class AdapterError(WorkbenchError):
    pass


class AdapterConflict(AdapterError):
    """peft cannot switch this adapter's layers beside those already on the model: it needs another copy."""


@dataclass(frozen=True)
class LoadedAdapter:
    name: str  # what the caller calls it (shown in answers)
    key: str  # what the model calls it: one per adapter folder, so two folders never clash on a name
    path: Path
    peft_type: str  # peft's (LORA, IA3, PROMPT_TUNING, PREFIX_TUNING) or BOTTLENECK
    base_model: str  # as recorded in the adapter's config


def parse_adapter_spec(spec: str) -> tuple[str, str]:
    """`NAME=PATH` or `PATH` (named after its folder) → (name, path)."""
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec.rstrip("/")).name
    if not name.strip() or not path.strip():
        raise AdapterError(f"--adapter {spec!r}: expected PATH or NAME=PATH")
    return name.strip(), path.strip()


class AdapterSet:
    """The adapters loaded on one base model; get it with `adapters_for(generator)`."""

    def __init__(self, generator: LoadedGenerator):
        self.generator = generator
        self.lock = threading.RLock()
        self.scheduler = BatchScheduler(self)  # every generation on this model, batched with those waiting beside it
        self._peft: dict[str, Any] = {}  # peft type → the PeftModel around generator.model for that type
        self._adapters: dict[str, LoadedAdapter] = {}  # by key

    @property
    def loaded(self) -> dict[str, LoadedAdapter]:
        """The adapters on the model, by key."""
        return dict(self._adapters)

    def load(self, path: str | Path, name: str | None = None) -> LoadedAdapter:
        """Load the adapter folder at `path` (or a `wb train` run folder holding `adapter/`), shown as
        `name` (default: the folder name). A folder is loaded once per model, whatever it is called: a
        long-lived server asked for the same folder again, or for another folder of the same name,
        neither reloads nor refuses."""
        path = Path(path).expanduser()
        name = name or path.name
        if (path / "adapter").is_dir():  # a `wb train` run folder
            path = path / "adapter"
        base_model, peft_type = self._read_config(path)
        key = "adapter_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        with self.lock:
            known = self._adapters.get(key)
            if known is not None:
                return replace(known, name=name)
            from peft import PeftModel

            if peft_type != BOTTLENECK and peft_type not in self._peft:
                self._check_combinable(path, peft_type)  # before peft touches the shared model
            try:
                if peft_type == BOTTLENECK:
                    load_bottleneck(self.generator.model, path, key)
                elif peft_type in self._peft:
                    self._peft[peft_type].load_adapter(str(path), adapter_name=key, is_trainable=False)
                else:
                    self._peft[peft_type] = PeftModel.from_pretrained(self.generator.model, str(path),
                                                                      adapter_name=key, is_trainable=False)
            except (OSError, ValueError, RuntimeError, KeyError, SafetensorError, WorkbenchError) as exc:
                raise AdapterError(f"adapter {path}: cannot be loaded on '{self.generator.name}' ({exc})") from None
            adapter = LoadedAdapter(name, key, path, peft_type, base_model)
            self._adapters[key] = adapter
            self._set_layers(key, enabled=False)
        return adapter

    def _read_config(self, path: Path) -> tuple[str, str]:
        if not path.is_dir():
            raise AdapterError(f"adapter {path}: folder not found")
        adapter = open_adapter_folder(path)
        if adapter is None:
            hint = ""
            if (path / "config.json").is_file() or (path / "model" / "config.json").is_file():
                hint = (f" (a complete model: answer with it as the generator, --model {path}; the finetuned "
                        "strategies take a `wb train generator --method full` run folder as --adapter)")
            raise AdapterError(f"adapter {path}: not an adapter folder (no adapter_config.json nor "
                               f"{BOTTLENECK_CONFIG}){hint}")
        base = adapter.base_model
        if base is None or not self._is_our_base(base):
            raise AdapterError(
                f"adapter {path} was trained for base model '{base}', not for '{self.generator.name}'; "
                f"load it with --model {base} or use an adapter trained on {self.generator.name}"
            )
        return base, adapter.adapter_type

    def _check_combinable(self, path: Path, peft_type: str) -> None:
        """Refuse a second layer-injecting PEFT type (see the module docstring)."""
        if not _injects_layers(path, peft_type):
            return
        loaded = next((t for t in self._peft if _injects_layers(path, t)), None)
        if loaded is not None:
            raise AdapterConflict(f"adapter {path}: {peft_type} adapters cannot be loaded beside the {loaded} "
                                  f"adapters already on this copy of '{self.generator.name}' (peft switches "
                                  "their layers together)")

    def _is_our_base(self, base: str) -> bool:
        """The registry name (what our trainer records) or the folder it resolves to."""
        if base == self.generator.name:
            return True
        ours = Path(resolve(self.generator.name, "generator")).expanduser()
        theirs = Path(base).expanduser()
        return base == str(ours) or (theirs.exists() and ours.exists() and theirs.resolve() == ours.resolve())

    def _set_layers(self, key: str, enabled: bool) -> None:
        adapter = self._adapters[key]
        if adapter.peft_type == BOTTLENECK:
            set_active_bottleneck(self.generator.model, key if enabled else None)
            return
        # Prompt-learning adapters (prompt/prefix tuning) add no layers to the base: nothing to switch.
        if _injects_layers(adapter.path, adapter.peft_type):
            model = self._peft[adapter.peft_type]
            if enabled:
                model.base_model.enable_adapter_layers()
            else:
                model.base_model.disable_adapter_layers()

    def can_share_batch(self, keys: Iterable[str | None]) -> bool:
        """Whether prompts answered with these adapters (None: the base model) can be generated in one
        batch: they all use the same one, or each is the base model or an adapter of one type whose
        method `shares_batch` (peft's mixed-adapter batches route each row through its own adapter)."""
        distinct = set(keys)
        if len(distinct) <= 1:
            return True
        types = {self._adapters[key].peft_type for key in distinct if key is not None}
        method = generator_method_for_adapter(types.pop()) if len(types) == 1 else None
        return method is not None and method.shares_batch

    @contextmanager
    def activate_rows(self, keys: Sequence[str | None]) -> Iterator[tuple[torch.nn.Module, dict]]:
        """`activate` for a batch whose rows each name their adapter: the model to call `generate` on
        and the arguments that route the rows (`adapter_names`). Rows must `can_share_batch`."""
        if len(set(keys)) <= 1:
            with self.activate(keys[0] if keys else None) as model:
                yield model, {}
            return
        if not self.can_share_batch(keys):
            raise AdapterError(f"adapters {sorted(set(keys), key=str)} cannot share a batch on '{self.generator.name}'")
        with self.lock:
            model = self._peft[next(self._adapters[key].peft_type for key in keys if key is not None)]
            model.base_model.enable_adapter_layers()
            try:
                yield model, {"adapter_names": [key or BASE_ROW for key in keys]}
            finally:
                model.base_model.disable_adapter_layers()

    @contextmanager
    def activate(self, key: str | None) -> Iterator[torch.nn.Module]:
        """The model to call `generate` on: the base model for None, else the base with the adapter
        whose `LoadedAdapter.key` is `key`."""
        with self.lock:
            if key is None:
                yield self.generator.model
                return
            if key not in self._adapters:
                raise AdapterError(f"adapter '{key}' is not loaded on '{self.generator.name}'")
            if self._adapters[key].peft_type == BOTTLENECK:  # PEFT layers, if any, stay disabled
                model = self.generator.model
            else:
                model = self._peft[self._adapters[key].peft_type]
                model.set_adapter(key, inference_mode=True)
            self._set_layers(key, enabled=True)
            try:
                yield model
            finally:
                self._set_layers(key, enabled=False)


def _injects_layers(path: Path, peft_type: str) -> bool:
    """Whether a PEFT type adds layers to the base model (LoRA, IA3...) rather than a learned prompt."""
    from peft import PromptLearningConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    if peft_type not in PEFT_TYPE_TO_CONFIG_MAPPING:
        raise AdapterError(f"adapter {path}: unknown peft_type '{peft_type}' in adapter_config.json")
    return not issubclass(PEFT_TYPE_TO_CONFIG_MAPPING[peft_type], PromptLearningConfig)


_SETS_LOCK = threading.Lock()
_SET_ATTRIBUTE = "_workbench_adapters"


def adapters_for(generator: LoadedGenerator) -> AdapterSet:
    """The one AdapterSet of this base model (like the model itself). It is kept on the model object, so
    that it goes when the model goes: a table beside the model, keyed weakly on it, would keep it alive
    through the set's own reference to it."""
    with _SETS_LOCK:
        found = generator.model.__dict__.get(_SET_ATTRIBUTE)
        if found is None:
            found = AdapterSet(generator)
            generator.model.__dict__[_SET_ATTRIBUTE] = found
        return found


_PLACING = threading.Lock()  # one placement at a time: two would each count the copies before either loads one


def place_adapter(generator: LoadedGenerator, path: str | Path, name: str, memory_limit_mb: int,
                  pool: ModelPool) -> tuple[LoadedGenerator, LoadedAdapter]:
    """Load adapter `path` as `name` on the shared base model `generator` when peft can switch it there,
    else on the first extra copy of that model in `pool` that takes it, else on a new copy as long as all
    the extra copies of the model stay within `memory_limit_mb` (parameter bytes). Returns the model the
    adapter is on, to answer with an engine over it (whoever holds that engine keeps the copy loaded)."""
    with _PLACING:
        copies = pool.extra_copies(generator.name, str(generator.device))
        for candidate in (generator, *copies):
            try:
                return candidate, adapters_for(candidate).load(path, name)
            except AdapterConflict as exc:
                conflict = exc
        copy_mb = _parameter_mb(generator.model)
        used_mb = sum(_parameter_mb(c.model) for c in copies)
        if used_mb + copy_mb > memory_limit_mb:
            raise AdapterError(f"{conflict}; it needs another copy of '{generator.name}' on {generator.device} "
                               f"({copy_mb:.0f} MB), beyond the {memory_limit_mb} MB that extra copies of it may take "
                               f"({len(copies)} loaded, {used_mb:.0f} MB): raise models.extra_copies_mb to at least "
                               f"{math.ceil(used_mb + copy_mb)} (--set models.extra_copies_mb=MB)") from None
        copy = pool.new_extra_copy(generator.name, str(generator.device))
        return copy, adapters_for(copy).load(path, name)


def _parameter_mb(model: torch.nn.Module) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
