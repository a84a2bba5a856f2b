"""Fold a LoRA (or IA3) adapter into its base model: one plain model folder, no peft needed to run it,
and the same outputs as base + adapter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workbench.training.generator import load_trained_generator
from workbench.training.runs import RunDir, RunError

MERGEABLE = ("lora", "ia3")


def merge_run(run_path: Path, output: Path) -> Path:
    """Write base + adapter of the generator run `run_path`, merged, to the model folder `output`."""
    method = RunDir.open(run_path).config()["options"]["method"]
    if method not in MERGEABLE:
        raise RunError(f"{run_path}: a '{method}' run cannot be merged into the base model "
                       f"(only {' and '.join(MERGEABLE)} adapters are weight deltas)")
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise RunError(f"{output} is not empty; choose another --output")
    loaded = load_trained_generator(run_path, device="cpu")
    merged = loaded.model.merge_and_unload()
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        merged.save_pretrained(tmp)
        loaded.tokenizer.save_pretrained(tmp)
        if output.exists():
            output.rmdir()
        os.replace(tmp, output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"{output}: cannot write the merged model ({exc.strerror or exc})") from None
    return output
