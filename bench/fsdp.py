"""FSDP against DDP: full finetuning of the default generator on 2 CPU processes → bench/results/fsdp.md (+ fsdp.json).

The same command twice, `wb train generator --demo --method full --nproc 2`, once with `--sharding none` (each
process holds the whole model, its gradients and AdamW's two moments) and once with `--sharding fsdp` (each
holds half of each), alternated `ROUNDS` times. Reported per setting, as the run's summary gives them: rank 0's
peak RSS (the trainer's `ResourceMeter`, which also sees the model loaded whole before it is sharded), the
seconds per optimizer step, and the held-out loss after the same steps (the two must learn the same). Beside
them, the training state's bytes per process as counted from the parameter count (4 bytes each for weights,
gradients and the two moments, divided by the processes under FSDP).

Usage: .venv/bin/python bench/fsdp.py [--quick]   (--quick: 2 steps, 1 round: a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fsdp.md"
SETTINGS = {"processes": 2, "batch_size": 4, "max_length": 72, "steps": 4, "rounds": 2}
QUICK = {**SETTINGS, "steps": 2, "rounds": 1}
SHARDINGS = ("none", "fsdp")


def train(sharding: str, settings: dict, folder: Path) -> dict:
    """One run, in processes of its own; returns its summary."""
    command = [str(ROOT / ".venv" / "bin" / "wb"), "train", "generator", "--demo", "--method", "full",
               "--nproc", str(settings["processes"]), "--sharding", sharding, "--batch-size", str(settings["batch_size"]),
               "--max-length", str(settings["max_length"]), "--max-steps", str(settings["steps"]), "--eval-generate", "0",
               "--checkpoint-every", "0", "--set", "training.forgetting_items=0", "--set", "models.device=cpu",
               "--set", f"training.output_root={folder}", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    summary = json.loads((run / "summary.json").read_text())
    subprocess.run(["rm", "-rf", str(run)], check=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    settings = QUICK if parser.parse_args().quick else SETTINGS
    load = os.getloadavg()[0]
    rows: dict[str, list[dict]] = {sharding: [] for sharding in SHARDINGS}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(settings["rounds"]):
            for sharding in SHARDINGS:  # A/B in turn: both see the same load
                rows[sharding].append(train(sharding, settings, Path(scratch)))
    parameters = rows["none"][0]["total_params"]
    table = []
    for sharding, summaries in rows.items():
        shards = settings["processes"] if sharding == "fsdp" else 1
        table.append({
            "sharding": sharding,
            "peak_rss_mib": round(statistics.median(s["peak_rss_bytes"] for s in summaries) / 2**20),
            "seconds_per_step": round(statistics.median(s["train_seconds"] / s["steps"] for s in summaries), 2),
            "eval_loss": round(summaries[0]["final"]["eval_loss"], 4),
            "training_state_mib": round(16 * parameters / shards / 2**20),
        })
    (RESULTS.with_suffix(".json")).write_text(json.dumps({"settings": settings, "load": load, "rows": table}, indent=2))
    lines = [
        "# FSDP against DDP on 2 CPU processes",
        "",
        f"`bench/fsdp.py`: {rows['none'][0]['model']} ({parameters:,} parameters), full finetuning on the demo QA pairs, "
        f"{settings['processes']} gloo processes of one thread, batch {settings['batch_size']} per process, "
        f"{settings['steps']} steps, median of {settings['rounds']} alternated rounds; 1-minute load {load:.1f} "
        "at the start on this 2-core machine.",
        "",
        "| sharding | peak RSS, rank 0 (MiB) | training state per process (MiB, counted) | s / step | eval loss |",
        "|---|---|---|---|---|",
        *(f"| {r['sharding']} | {r['peak_rss_mib']:,} | {r['training_state_mib']:,} | {r['seconds_per_step']} | "
          f"{r['eval_loss']} |" for r in table),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
