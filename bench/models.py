"""Model preparation and cold-load times of the embedded models.

Run: .venv/bin/python bench/models.py   (writes bench/results/models.md)
Each load runs in a fresh process, so import time and file reads are included: what a user waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "models.md"

LOAD = {
    "minilm (embedder)": "from workbench.models import load_embedder; load_embedder('minilm')",
    "smollm2-135m-instruct (generator)": "from workbench.models import load_generator; load_generator('smollm2-135m-instruct')",
}
IMPORTS = "import torch, transformers, sentence_transformers"


def timed_python(code: str, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "WORKBENCH_HOME": home}
        seconds = timed_python("from workbench.models import prepare_generator; prepare_generator()", env)
        rows.append(("`wb models prepare` (GGUF → safetensors, first time)", seconds))
        seconds = timed_python("from workbench.models import prepare_generator; prepare_generator()", env)
        rows.append(("`wb models prepare` again (already ready)", seconds))
    baseline = min(timed_python(IMPORTS) for _ in range(3))
    rows.append(("Python + torch/transformers imports alone", baseline))
    for name, code in LOAD.items():
        seconds = min(timed_python(f"{IMPORTS}\n{code}") for _ in range(3))
        rows.append((f"cold load of {name}, imports included", seconds))
        rows.append((f"cold load of {name}, beyond the imports", seconds - baseline))
    lines = ["# Embedded models: preparation and cold-load times", "",
             f"Machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}. "
             "Each row is a fresh process; loads are the best of 3.", "",
             "| what | seconds |", "|---|---|"]
    lines += [f"| {what} | {seconds:.2f} |" for what, seconds in rows]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
