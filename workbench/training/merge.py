"""Fold a LoRA (or IA3) adapter into its base model: one plain model folder, no peft needed to run it,
and the same outputs as base + adapter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from workbench.runfolder import RunError
from workbench.training.generator import MODEL_DIR, load_merged_run


def merge_run(run_path: Path, output: Path) -> Path:
    """Write base + adapter of the generator run `run_path`, merged, to the model folder `output`."""
    if (Path(run_path) / MODEL_DIR).is_dir():
        raise RunError(f"{run_path}: a full-finetuning run; its model is already standalone in {run_path / MODEL_DIR}")
    check_output(output)
    merged, tokenizer = load_merged_run(run_path, device="cpu")
    return save_model_folder(merged, tokenizer, output)


def check_output(output: Path) -> None:
    """Refuse an output that exists and holds anything (a file, or a folder with files in it)."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RunError(f"{output} is not empty; choose another --output")


def save_model_folder(model: nn.Module, tokenizer: Any, output: Path) -> Path:
    """Save `model` and `tokenizer` (with its chat template, chat_template.jinja) as the model folder
    `output`, atomically: written in a temporary sibling and renamed into place when complete."""
    output = Path(output)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if output.exists():
            output.rmdir()
        os.replace(tmp, output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"{output}: cannot write the merged model ({exc.strerror or exc})") from None
    return output
