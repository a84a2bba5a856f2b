"""Training on two CPU processes (torchrun, gloo, one thread each) equals training on one, on the tiny random
generator of tests/conftest.py.

The runs of `fit` are tests/training/distributed_worker.py under torchrun: before every step the processes
check that they hold identical weights, and each records the examples it learned from. The data (13 QA pairs,
batches of 2 per process) leave the epoch's last step one example, so one process takes that step with no
weight. `wb train --nproc 2` is tested as a user runs it, with and without FSDP (`--sharding fsdp`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.processes import WB, kill_at_first_checkpoint
from tests.training import distributed_worker
from workbench.runfolder import RunDir, RunError
from workbench.training.data import LengthGroupedBatches, rank_share

pytestmark = pytest.mark.long

EXAMPLES, BATCH = 13, 2
ROOT = Path(__file__).resolve().parents[2]


def _torchrun(spec: dict, report: Path, processes: int = 2) -> list[str]:
    report.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "report": str(report)}
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "--", "tests.training.distributed_worker", json.dumps(spec)]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def _reports(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank-{rank}.json").read_text()) for rank in (0, 1)]


def _losses(report: dict) -> list[float]:
    return [loss for _, loss in report["curve"]]


def _assert_same_weights(got: dict, expected: dict, atol: float) -> None:
    assert got.keys() == expected.keys()
    for name, weights in expected.items():
        torch.testing.assert_close(torch.tensor(got[name]), torch.tensor(weights), rtol=1e-4, atol=atol)


def test_each_process_takes_its_share_and_every_example_is_learned_once_per_epoch():
    for examples in range(1, 20):
        lengths = [1 + i % 7 for i in range(examples)]
        for processes in (1, 2, 3):
            steps = LengthGroupedBatches(lengths, BATCH, seed=1, processes=processes)
            assert list(steps) == list(LengthGroupedBatches(lengths, BATCH * processes, seed=1))  # 2 x B is 1 x 2B
            shares = [[rank_share(step, rank, processes) for step in steps] for rank in range(processes)]
            assert all(len(share) == len(steps) for share in shares)  # every process takes every step
            learned = Counter(i for share in shares for batch in share for i in batch)
            assert learned == Counter(range(examples))


@pytest.fixture(scope="module")
def straight(tiny_generator, tmp_path_factory):
    """Two processes, 2 epochs of batch 2 each, never stopped: (the run folder, each process's report)."""
    folder = tmp_path_factory.mktemp("straight")
    spec = {"mode": "fit", "model": tiny_generator, "examples": EXAMPLES, "batch_size": BATCH, "output": str(folder / "run")}
    _run(_torchrun(spec, folder / "report"))
    return folder / "run", _reports(folder / "report")


def test_two_processes_hold_the_same_weights_and_learn_what_one_learns_with_twice_the_batch(straight, tiny_generator,
                                                                                             tmp_path):
    run, reports = straight
    per_epoch = -(-EXAMPLES // (2 * BATCH))
    for report in reports:
        assert len(report["seen"]) == 2 * per_epoch  # the step count comes from the shared batches
    for epoch in range(2):
        steps = [report["seen"][epoch * per_epoch:(epoch + 1) * per_epoch] for report in reports]
        learned = Counter(i for share in steps for batch in share for i in batch)
        assert sorted(learned.values()) == [1] * (EXAMPLES - 1) + [2]  # once each; one again, as the weightless step
    alone = distributed_worker.fit_run({"model": tiny_generator, "examples": EXAMPLES, "batch_size": 2 * BATCH,
                                        "output": str(tmp_path / "alone")})
    assert _losses(reports[0]) == pytest.approx(_losses(alone), abs=1e-5)
    _assert_same_weights(reports[0]["weights"], alone["weights"], atol=1e-6)
    assert reports[0]["weights"] == reports[1]["weights"]
    assert json.loads((run / "config.json").read_text())["world_size"] == 2


def test_a_cancel_stops_both_processes_with_a_checkpoint_and_a_sigkill_loses_nothing(straight, tiny_generator, tmp_path):
    """Cancelled at step 3 (rank 0 hears of it; both stop there), resumed and killed by SIGKILL at the checkpoint
    of step 5, resumed again: the same curve and weights as the run never stopped."""
    spec = {"mode": "fit", "model": tiny_generator, "examples": EXAMPLES, "batch_size": BATCH, "output": str(tmp_path / "run")}
    _run(_torchrun({**spec, "cancel_at": 3}, tmp_path / "cancelled"))
    assert all(report.get("cancelled") for report in _reports(tmp_path / "cancelled"))
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-3"]
    with pytest.raises(RunError, match="trained on 2 process"):  # a resume on one process is refused
        distributed_worker.fit_run({**spec, "resume": True})
    kill_at_first_checkpoint(_torchrun({**spec, "resume": True}, tmp_path / "killed"), tmp_path / "run", "step-5")
    _run(_torchrun({**spec, "resume": True}, tmp_path / "resumed"))
    resumed, (expected, _) = _reports(tmp_path / "resumed"), straight[1]
    assert _losses(resumed[0]) == pytest.approx(_losses(expected), abs=1e-6)
    _assert_same_weights(resumed[0]["weights"], expected["weights"], atol=1e-7)


def test_fsdp_splits_the_model_resumes_exactly_and_learns_what_one_process_learns(straight, tiny_generator, tmp_path):
    """--sharding fsdp: each process holds its part of every tensor; cancelled at step 3 (the checkpoint holds
    the tensors whole) and resumed, the run learns what the unsharded one does (hence one process with twice
    the batch), and its adapter holds the trained weights."""
    from safetensors.torch import load_file

    spec = {"mode": "fit", "model": tiny_generator, "examples": EXAMPLES, "batch_size": BATCH,
            "output": str(tmp_path / "run"), "sharding": "fsdp"}
    _run(_torchrun({**spec, "cancel_at": 3}, tmp_path / "cancelled"))
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-3"]
    assert load_file(tmp_path / "run" / "checkpoints" / "step-3" / "trainable.safetensors").keys() == \
        straight[1][0]["weights"].keys()  # whole tensors, named as without sharding
    _run(_torchrun({**spec, "resume": True}, tmp_path / "resumed"))
    reports, (unsharded, _) = _reports(tmp_path / "resumed"), straight[1]
    numbers = reports[0]["numbers"]
    assert all(0 < report["held"] < numbers for report in reports) and sum(r["held"] for r in reports) == numbers
    assert _losses(reports[0]) == pytest.approx(_losses(unsharded), abs=1e-5)
    _assert_same_weights(reports[0]["weights"], unsharded["weights"], atol=1e-6)
    saved = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    _assert_same_weights({name.replace(".default", ""): weights for name, weights in reports[0]["weights"].items()},
                         {name: tensor.tolist() for name, tensor in saved.items()}, atol=0)


LAUNCHES = {  # as docs/scale.md gives them: on this machine's CPUs, and on a machine's GPUs
    "accelerate launch, DDP, lora": [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
        "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "workbench.cli", "train", "generator",
        "--method", "lora"],
    "wb --nproc, FSDP, full": [*WB, "train", "generator", "--nproc", "2", "--sharding", "fsdp", "--method", "full"],
}


@pytest.mark.parametrize("launch", LAUNCHES)
def test_a_launched_command_makes_one_run_that_answers(launch, tiny_generator, demo_corpus, tmp_path):
    """Without --output: one run folder, one COMPLETE marker, the forgetting probe (under FSDP both processes
    probe: a sharded forward needs them all), and what the method saves (an adapter; under FSDP the model
    gathered whole by rank 0), which loads."""
    from workbench.training.generator import load_trained_generator

    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": p.question, "answers": list(p.answers)}) + "\n"
                            for p in demo_corpus.qa_pairs[:10]))
    root = tmp_path / "runs"
    _run([*LAUNCHES[launch], "--data", str(data), "--batch-size", "2", "--max-steps", "2", "--max-length", "48",
          "--eval-generate", "1", "--set", "generation.max_new_tokens=4", "--set", "training.forgetting_items=1",
          "--set", f"training.output_root={root}", "--set", f"models.generator={tiny_generator}",
          "--set", "models.device=cpu"])
    (run,) = list(root.iterdir())
    summary = RunDir.open(run).summary()
    assert summary["steps"] == 2 and summary["forgetting"]["after"]["rougeL_items"]
    assert [p.name for p in run.iterdir() if p.name == "COMPLETE"] == ["COMPLETE"]
    loaded = load_trained_generator(run, "cpu")
    if "lora" in launch:
        assert loaded.model.peft_config  # the LoRA adapter, on the tiny base
    else:
        assert (run / "model").is_dir() and summary["trainable_params"] == summary["total_params"]
        assert loaded.model.get_input_embeddings().weight.shape[0] == len(loaded.tokenizer)  # whole, not a shard


@pytest.mark.parametrize("request_type", ["ClassifierRequest", "GeneratorRequest"])
def test_runs_that_do_not_shard_refuse_fsdp_before_they_start(request_type, tmp_path):
    """A classifier run, and a generator method FSDP does not split (bottleneck adapters): a clear refusal
    naming what does shard, not a run that silently trains unsharded."""
    from workbench import requests
    from workbench.config import load_config
    from workbench.errors import WorkbenchError
    from workbench.session import Workbench

    session = Workbench(load_config(None, ["training.sharding=fsdp", f"training.output_root={tmp_path}",
                                           "training.generator.method=adapter"]))
    with pytest.raises(WorkbenchError, match="sharding (fsdp splits|none)"):
        session.train(getattr(requests, request_type)())
    assert not list(tmp_path.iterdir())  # no run folder started


def test_dpo_on_two_processes_saves_its_checkpoint_and_resumes(tiny_generator, tmp_path):
    """TRL's trainer on two processes: cancelled after step 1 (both stop, the checkpoint moved whole into the run,
    each process's RNG state in it), resumed to its 2 steps, and the adapter saved once."""
    spec = {"mode": "dpo", "model": tiny_generator, "output": str(tmp_path / "run")}
    _run(_torchrun({**spec, "cancel_at": 1}, tmp_path / "cancelled"))
    assert all(report.get("cancelled") for report in _reports(tmp_path / "cancelled"))
    (checkpoint,) = (tmp_path / "run" / "checkpoints").iterdir()
    assert checkpoint.name == "checkpoint-1"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
    _run(_torchrun({**spec, "resume": True}, tmp_path / "resumed"))
    assert RunDir.open(tmp_path / "run").summary()["steps"] == 2
    assert (tmp_path / "run" / "adapter").is_dir()


def test_a_session_asked_for_more_processes_than_it_is_says_how_to_launch_them():
    """`training.processes: 2` in a config the browser's jobs or the Python API train with: a clear refusal,
    not a silent run on one process."""
    from workbench.config import load_config
    from workbench.errors import WorkbenchError
    from workbench.requests import GeneratorRequest
    from workbench.session import Workbench

    session = Workbench(load_config(None, ["training.processes=2"]))
    with pytest.raises(WorkbenchError, match=r"wb train \.\.\. --nproc 2"):
        session.train(GeneratorRequest())
