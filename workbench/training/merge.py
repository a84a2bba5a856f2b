"""Fold a LoRA (or IA3) adapter into its base model: one plain model folder, no peft needed to run it,
and the same outputs as base + adapter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workbench.runfolder import RunError
from workbench.training.generator import MODEL_DIR, load_merged_run


def merge_run(run_path: Path, output: Path) -> Path:
    """Write base + adapter of the generator run `run_path`, merged, to the model folder `output`."""
    if (Path(run_path) / MODEL_DIR).is_dir():
        raise RunError(f"{run_path}: a full-finetuning run; its model is already standalone in {run_path / MODEL_DIR}")
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise RunError(f"{output} is not empty; choose another --output")
    merged, tokenizer = load_merged_run(run_path, device="cpu")
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if output.exists():
            output.rmdir()
        os.replace(tmp, output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"{output}: cannot write the merged model ({exc.strerror or exc})") from None
    return output
