"""A run killed with SIGKILL at its first checkpoint and restarted with --resume ends with the same metrics
as one never stopped: a classifier, fully finetuned (two learning rates: backbone and head), and a LoRA
generator with dropout and gradient checkpointing, on a float32 and on a 4-bit base (QLoRA); all on the
tiny random models of tests/conftest.py (what is compared is numbers, not what they mean).

The killed run is a `wb` process of its own; the resumed and the uninterrupted runs are the same command
lines run by `main` in this process (a process each only costs its imports).

Tolerance: identical to 1e-6 (data order is a function of seed and epoch; the checkpoint restores
weights, AdamW moments, scheduler and the RNG that drives dropout). Measured: bit-identical on CPU."""

from __future__ import annotations

import csv
import json
from functools import partial

import pytest

from tests.processes import WB, kill_at_first_checkpoint
from workbench.cli.main import main


def _write_table(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([r.text, r.label] for r in rows)


def _write_qa(path, pairs) -> None:
    path.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answers": list(p.answers)}) + "\n"
                            for p in pairs))


def _classifier_data(topics, demo_corpus, tiny_models, tmp_path) -> list[str]:
    data, eval_data = tmp_path / "train.csv", tmp_path / "eval.csv"
    _write_table(data, topics[0])
    _write_table(eval_data, topics[1])
    return ["classifier", "--data", str(data), "--eval-data", str(eval_data), "--method", "full", "--max-length", "32",
            "--learning-rate", "1e-4", "--set", f"training.classifier.backbone={tiny_models['encoder']}"]


def _generator_data(topics, demo_corpus, tiny_models, tmp_path, method: str = "lora") -> list[str]:
    """LoRA (dropout on) with gradient checkpointing: the restored RNG must replay the same dropout masks.
    QLoRA the same on the base model loaded in 4 bits, of which a checkpoint holds nothing (it is frozen)."""
    data, eval_data = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    _write_qa(data, demo_corpus.qa_pairs[:12])
    _write_qa(eval_data, demo_corpus.qa_pairs[12:16])
    return ["generator", "--data", str(data), "--eval-data", str(eval_data), "--method", method, "--max-length", "64",
            "--learning-rate", "2e-3", "--eval-generate", "2", "--set", "generation.max_new_tokens=4",
            "--set", "training.forgetting_items=2", "--set", f"models.generator={tiny_models['generator']}"]


KINDS = {"classifier full": _classifier_data, "generator lora": _generator_data,
         "generator qlora": partial(_generator_data, method="qlora")}


def _arguments(arguments, output, *extra) -> list[str]:
    return ["train", *arguments, "--epochs", "2", "--batch-size", "4", "--checkpoint-every", "2",
            "--output", str(output), "--set", "models.device=cpu", *extra]


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def tiny_models(tiny_generator, tiny_encoder) -> dict[str, str]:
    return {"generator": tiny_generator, "encoder": tiny_encoder}


@pytest.mark.parametrize("kind", KINDS)
def test_resume_after_sigkill_matches_uninterrupted_run(kind, topics, demo_corpus, tiny_models, tmp_path, capsys):
    arguments = KINDS[kind](topics, demo_corpus, tiny_models, tmp_path)
    killed = tmp_path / "killed"
    kill_at_first_checkpoint([*WB, *_arguments(arguments, killed)], killed, "step-*", timeout=120)

    assert main(_arguments(arguments, killed, "--resume")) == 0, capsys.readouterr().err
    assert main(_arguments(arguments, tmp_path / "straight")) == 0, capsys.readouterr().err

    got, expected = _metrics(killed), _metrics(tmp_path / "straight")
    assert [m["epoch"] for m in got] == [1, 2]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_resume_refuses_changed_settings(topics, demo_corpus, tiny_models, tmp_path, capsys):
    arguments = _classifier_data(topics, demo_corpus, tiny_models, tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "classifier", "options": {}}))
    assert main(_arguments(arguments, run, "--resume")) == 2
    assert "different settings" in capsys.readouterr().err
