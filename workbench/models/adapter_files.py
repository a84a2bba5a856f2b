"""The config file of an adapter folder (peft's adapter_config.json or our bottleneck_config.json), read
through one schema: the fields workbench relies on, whatever else the writer stored."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from workbench.errors import WorkbenchError
from workbench.models.bottleneck import BOTTLENECK_CONFIG
from workbench.ondisk import SchemaViolation, read_file

PEFT_CONFIG = "adapter_config.json"


class AdapterFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    base_model_name_or_path: str | None = None
    peft_type: str | None = None  # peft's; a bottleneck adapter has none


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
