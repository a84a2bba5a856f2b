"""An adapter folder: its config file (peft's adapter_config.json or our bottleneck_config.json), read
through one schema (the fields workbench relies on, whatever else the writer stored), and its type,
which says which generator method loads it (workbench.models.methods)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from workbench.errors import WorkbenchError
from workbench.models.bottleneck import BOTTLENECK_CONFIG
from workbench.ondisk import SchemaViolation, read_file

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS, PICKLED_WEIGHTS = "adapter_model.safetensors", "adapter_model.bin"
BOTTLENECK = "BOTTLENECK"  # the type of a bottleneck adapter (its config records none)


class AdapterFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    base_model_name_or_path: str | None = None
    peft_type: str | None = None  # peft's (or another method's own type); a bottleneck adapter has none


@dataclass(frozen=True)
class AdapterFolder:
    path: Path
    base_model: str | None  # the model it was trained on, as recorded
    adapter_type: str  # peft's peft_type (LORA, IA3, PROMPT_TUNING, ...), BOTTLENECK, or "unknown"


def adapter_config_path(folder: Path) -> Path | None:
    """The adapter's config file in `folder`, or None when `folder` holds no adapter."""
    for name in (BOTTLENECK_CONFIG, PEFT_CONFIG):
        if (folder / name).is_file():
            return folder / name
    return None


def read_adapter_file(path: Path) -> AdapterFile:
    try:
        return read_file(path, AdapterFile)
    except (OSError, SchemaViolation) as exc:
        raise WorkbenchError(f"{path}: unreadable adapter config ({exc})") from None


def open_adapter_folder(folder: Path) -> AdapterFolder | None:
    """The adapter in `folder`, or None when it holds none. Weights saved as a pickle are refused before
    anything reads them: unpickling a file can run any code in it."""
    config_path = adapter_config_path(folder)
    if config_path is None:
        return None
    config = read_adapter_file(config_path)
    if config_path.name == BOTTLENECK_CONFIG:
        return AdapterFolder(folder, config.base_model_name_or_path, BOTTLENECK)
    if (folder / PICKLED_WEIGHTS).is_file() and not (folder / PEFT_WEIGHTS).is_file():
        raise WorkbenchError(f"{folder / PICKLED_WEIGHTS}: a pickled adapter, which workbench does not load (unpickling "
                             f"can run code); only safetensors adapters ({PEFT_WEIGHTS}) are loaded: save it again with "
                             "peft's `save_pretrained(folder, safe_serialization=True)`")
    return AdapterFolder(folder, config.base_model_name_or_path, config.peft_type or "unknown")
