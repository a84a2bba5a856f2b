"""A run killed with SIGKILL and restarted with --resume ends with the same metrics as one never stopped.

Tolerance: identical to 1e-6 (data order is a function of seed and epoch; the checkpoint restores
weights, AdamW moments, scheduler and the RNG that drives dropout). Measured: bit-identical on CPU."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

WB = [sys.executable, "-c", "import sys; from workbench.cli.main import main; sys.exit(main())"]


def _write_table(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([r.text, r.label] for r in rows)


def _command(data, eval_data, output, *extra) -> list[str]:
    return [*WB, "train", "classifier", "--data", str(data), "--eval-data", str(eval_data), "--method", "full",
            "--epochs", "2", "--batch-size", "4", "--max-length", "32", "--learning-rate", "1e-4",
            "--checkpoint-every", "2", "--output", str(output), "--set", "models.device=cpu", *extra]


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_resume_after_sigkill_matches_uninterrupted_run(topics, tmp_path):
    train, held_out = topics
    data, eval_data = tmp_path / "train.csv", tmp_path / "eval.csv"
    _write_table(data, train)
    _write_table(eval_data, held_out)
    env = {**os.environ, "TQDM_DISABLE": "1"}

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(data, eval_data, killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step-*")):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if (killed / "COMPLETE").exists():
        pytest.fail("the run finished before it could be killed: make it longer")

    resumed = subprocess.run(_command(data, eval_data, killed, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(_command(data, eval_data, tmp_path / "straight"), env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr

    got, expected = _metrics(killed), _metrics(tmp_path / "straight")
    assert [m["epoch"] for m in got] == [1, 2]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_resume_refuses_changed_settings(topics, tmp_path):
    train, held_out = topics
    data, eval_data = tmp_path / "train.csv", tmp_path / "eval.csv"
    _write_table(data, train)
    _write_table(eval_data, held_out)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "classifier", "options": {}}))
    result = subprocess.run(_command(data, eval_data, run, "--resume"), capture_output=True, text=True)
    assert result.returncode == 2 and "different settings" in result.stderr
