"""A run killed with SIGKILL and restarted with --resume ends with the same metrics as one never stopped
(a classifier, fully finetuned, and a LoRA generator).

Tolerance: identical to 1e-6 (data order is a function of seed and epoch; the checkpoint restores
weights, AdamW moments, scheduler and the RNG that drives dropout). Measured: bit-identical on CPU."""

from __future__ import annotations

import csv
import json
import pytest

from tests.processes import WB, kill_at_first_checkpoint, run_wb


def _write_table(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([r.text, r.label] for r in rows)


def _write_qa(path, pairs) -> None:
    path.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answers": list(p.answers)}) + "\n"
                            for p in pairs))


def _classifier_data(topics, demo_corpus, tmp_path) -> list[str]:
    data, eval_data = tmp_path / "train.csv", tmp_path / "eval.csv"
    _write_table(data, topics[0])
    _write_table(eval_data, topics[1])
    return ["classifier", "--data", str(data), "--eval-data", str(eval_data), "--method", "full", "--max-length", "32",
            "--learning-rate", "1e-4"]


def _generator_data(topics, demo_corpus, tmp_path) -> list[str]:
    """LoRA (dropout on) with gradient checkpointing: the restored RNG must replay the same dropout masks."""
    data, eval_data = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    _write_qa(data, demo_corpus.qa_pairs[:12])
    _write_qa(eval_data, demo_corpus.qa_pairs[12:16])
    return ["generator", "--data", str(data), "--eval-data", str(eval_data), "--method", "lora", "--max-length", "64",
            "--learning-rate", "2e-3", "--eval-generate", "2", "--set", "generation.max_new_tokens=4",
            "--set", "training.forgetting_items=2"]


KINDS = {"classifier full": _classifier_data, "generator lora": _generator_data}


def _command(arguments, output, *extra) -> list[str]:
    return [*WB, "train", *arguments, "--epochs", "2", "--batch-size", "4", "--checkpoint-every", "2",
            "--output", str(output), "--set", "models.device=cpu", *extra]


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", KINDS)
def test_resume_after_sigkill_matches_uninterrupted_run(kind, topics, demo_corpus, tmp_path):
    arguments = KINDS[kind](topics, demo_corpus, tmp_path)
    killed = tmp_path / "killed"
    kill_at_first_checkpoint(_command(arguments, killed), killed, "step-*", timeout=120)

    resumed = run_wb(_command(arguments, killed, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    straight = run_wb(_command(arguments, tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr

    got, expected = _metrics(killed), _metrics(tmp_path / "straight")
    assert [m["epoch"] for m in got] == [1, 2]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_resume_refuses_changed_settings(topics, demo_corpus, tmp_path):
    arguments = _classifier_data(topics, demo_corpus, tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "classifier", "options": {}}))
    result = run_wb(_command(arguments, run, "--resume"))
    assert result.returncode == 2 and "different settings" in result.stderr
