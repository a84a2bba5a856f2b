"""Models: the embedded defaults, any Hugging Face id or local folder, and where they run.

The names below are imported on first use (PEP 562), so that the torch-free parts of this floor (the
model registry, the method registries) load without torch: `wb --help` lists their choices."""

import importlib
from typing import Any

_SOURCES = {
    "default_dtype": "device",
    "resolve_device": "device",
    "LoadedGenerator": "loading",
    "fast_output_layer": "loading",
    "load_embedder": "loading",
    "load_generator": "loading",
    "EMBEDDED_GENERATORS": "registry",
    "EMBEDDER": "registry",
    "GEMMA3": "registry",
    "GENERATOR": "registry",
    "SMOLLM2": "registry",
    "ModelInfo": "registry",
    "ModelUnavailable": "registry",
    "is_generator_ready": "registry",
    "list_models": "registry",
    "prepare_generator": "registry",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
