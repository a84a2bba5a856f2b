"""Models: the embedded defaults, any Hugging Face id or local folder, and where they run."""

from workbench.models.device import default_dtype, resolve_device
from workbench.models.loading import LoadedGenerator, fast_output_layer, load_embedder, load_generator
from workbench.models.registry import (
    EMBEDDED_GENERATORS,
    EMBEDDER,
    GEMMA3,
    GENERATOR,
    SMOLLM2,
    ModelInfo,
    ModelUnavailable,
    is_generator_ready,
    list_models,
    prepare_generator,
)

__all__ = [
    "EMBEDDED_GENERATORS",
    "EMBEDDER",
    "GEMMA3",
    "GENERATOR",
    "SMOLLM2",
    "LoadedGenerator",
    "ModelInfo",
    "ModelUnavailable",
    "default_dtype",
    "fast_output_layer",
    "is_generator_ready",
    "list_models",
    "load_embedder",
    "load_generator",
    "prepare_generator",
    "resolve_device",
]
