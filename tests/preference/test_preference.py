"""Preference tuning on the real preference data (../shared/data): the reward model, DPO and RLOO each train
a few TRL steps, their loss falls, the frozen weights stay byte-identical, and the saved run reloads to
the same scores and answers through the finetuned strategy; DPO resumes after SIGKILL exactly; bad
input is a clear error naming the file or run.

What learns (the reward model, DPO) trains the real SmolLM2; equalities and bookkeeping (frozen weights,
a run built on another, RLOO's records, resume) the tiny random generator (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.processes import WB, kill_at_first_checkpoint
from workbench.cli.main import main
from workbench.corpus import DatasetError, PreferenceExample, load_preferences
from workbench.models import GENERATOR
from workbench.preference.data import check_window
from workbench.preference.policy import PreferenceOptions, train_preference
from workbench.preference.reward import RewardOptions, load_reward_model, pairwise_rows, train_reward
from workbench.preference.scoring import response_logprobs
from workbench.runfolder import RunDir, RunError
from workbench.strategies import Finetuned, StrategyFactory, StrategyOptions
from workbench.training.examples import PromptCompletion, chat_messages
from workbench.training.generator import load_base, load_trained_generator

SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def pairs(shared_data):
    """(train, held out): 16 + 6 short records of the real preference data."""
    records = [r for r in load_preferences(shared_data / "instruction-data-with-preference.json")
               if len(r.prompt) < 80 and len(r.chosen) < 60 and len(r.rejected) < 60]
    return records[:16], records[16:22]


def _records_file(path, records) -> None:
    path.write_text("".join(json.dumps({"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected}) + "\n"
                            for r in records))


def _frozen_state(model) -> dict[str, torch.Tensor]:
    """The pretrained weights of a (possibly peft-wrapped) model, under their base names."""
    state = {}
    for name, tensor in model.state_dict().items():
        if "lora_" in name or "score." in name:  # what trains: the adapter and the (freshly initialised) head
            continue
        state[name.replace("base_model.model.", "").replace(".base_layer", "")] = tensor
    return state


def _assert_frozen_unchanged(trained, fresh) -> None:
    got, expected = _frozen_state(trained), _frozen_state(fresh)
    assert got.keys() == expected.keys()
    changed = [name for name in expected if not torch.equal(got[name], expected[name])]
    assert not changed, f"frozen weights changed: {changed[:3]}"


@pytest.fixture(scope="module")
def reward_run(pairs, loop, tmp_path_factory):
    train, held_out = pairs
    options = RewardOptions(loop=loop(epochs=3, learning_rate=2e-3), model=GENERATOR, max_length=128, system_prompt=SYSTEM)
    return train_reward(train, held_out, options, tmp_path_factory.mktemp("reward") / "run")


def test_reward_model_learns_the_training_pairs_and_reloads(reward_run, pairs):
    train, held_out = pairs
    summary = reward_run.summary()
    curve = [row["loss"] for row in map(json.loads, (reward_run.path / "curve.jsonl").read_text().splitlines())]
    assert len(curve) == summary["steps"] == 12  # 3 epochs of 16 pairs in batches of 4
    assert sum(curve[-3:]) < sum(curve[:3])
    assert summary["trainable_params"] < summary["total_params"] / 50  # LoRA and the score head
    reward = load_reward_model(reward_run.path, device="cpu")
    rows = pairwise_rows(reward.model, reward.tokenizer, held_out, SYSTEM, 128)
    assert [row["margin"] for row in rows] == pytest.approx([row["margin"] for row in summary["eval_items"]], abs=1e-4)
    assert summary["final"]["eval_accuracy"] == sum(row["correct"] for row in rows) / len(rows)
    seen = pairwise_rows(reward.model, reward.tokenizer, train, SYSTEM, 128)
    assert sum(row["correct"] for row in seen) / len(train) >= 0.75  # 16 pairs seen 3 times: learnt


def test_reward_training_leaves_the_pretrained_weights_byte_identical(pairs, loop, tmp_path, tiny_generator):
    from workbench.models.registry import resolve
    from workbench.preference import trl_runs
    from workbench.preference.reward import load_score_model, reward_trainer

    source = resolve(tiny_generator, "generator")
    model, tokenizer = load_score_model(source, "cpu")
    options = RewardOptions(loop=loop(epochs=1, max_steps=2, learning_rate=1e-3), model=GENERATOR, max_length=128, system_prompt=SYSTEM)
    trainer = reward_trainer(model, tokenizer, pairs[0], options, RunDir(tmp_path))
    trl_runs.train(trainer, RunDir(tmp_path), resume=False, progress=None)
    _assert_frozen_unchanged(trainer.model, load_score_model(source, "cpu")[0])
    assert any(p.abs().sum() > 0 for n, p in trainer.model.named_parameters() if "lora_B" in n)


def _instructions(records) -> list[PromptCompletion]:
    return [PromptCompletion(chat_messages(SYSTEM, r.prompt), r.chosen) for r in records]


def _dpo_options(loop_settings, **overrides) -> PreferenceOptions:
    settings = {"loop": loop_settings(epochs=2, learning_rate=1e-3), "method": "dpo", "model": GENERATOR, "max_length": 128,
                "system_prompt": SYSTEM, "max_new_tokens": 8}
    return PreferenceOptions(**{**settings, **overrides})


@pytest.fixture(scope="module")
def dpo_run(pairs, loop, tmp_path_factory):
    train, held_out = pairs
    return train_preference(train, held_out, _dpo_options(loop), tmp_path_factory.mktemp("dpo") / "run",
                            general=_instructions(held_out[:2]))


@pytest.mark.long
def test_dpo_starts_at_the_reference_learns_and_reloads(dpo_run, pairs):
    """Step 1's loss is ln 2 exactly: the reference is the policy with its (zero-initialised) LoRA off."""
    _, held_out = pairs
    summary = dpo_run.summary()
    curve = [row for row in map(json.loads, (dpo_run.path / "curve.jsonl").read_text().splitlines())]
    assert curve[0]["loss"] == pytest.approx(0.6931, abs=1e-3)
    assert sum(row["loss"] for row in curve[-3:]) / 3 < 0.65
    assert {"rewards/accuracies", "rewards/margins"} <= set(curve[-1])
    assert {"eval_reward_accuracy", "eval_reward_margin"} <= set(summary["final"])
    assert set(summary["forgetting"]) == {"before", "after"}

    # The reloaded run reproduces TRL's held-out margin: beta x the change of log p(chosen) - log p(rejected)
    loaded = load_trained_generator(dpo_run.path, device="cpu")
    base, tokenizer = load_base("smollm2-135m-instruct", "cpu")

    def preference_gap(model) -> torch.Tensor:
        chosen = response_logprobs(model, tokenizer, _instructions(held_out), 128)
        rejected = response_logprobs(model, tokenizer, [PromptCompletion(chat_messages(SYSTEM, r.prompt), r.rejected)
                                                        for r in held_out], 128)
        return torch.tensor(chosen) - torch.tensor(rejected)

    # TRL also scores the newline the chat template puts after the end-of-turn token, which ours (like
    # our SFT) leaves out: one token of each response, measured at 3.5 % of the margin here
    margin = 0.1 * (preference_gap(loaded.model) - preference_gap(base)).mean().item()
    assert margin == pytest.approx(summary["final"]["eval_reward_margin"], rel=0.1)
    assert margin > 0.02  # and well away from the untrained adapter's 0


def test_dpo_run_answers_through_the_finetuned_strategy(dpo_run, pairs):
    from workbench.config import load_config
    from workbench.corpus import QAPair
    from workbench.training.generator import generate_replies

    held_out = _instructions(pairs[1][:2])
    loaded = load_trained_generator(dpo_run.path, device="cpu")
    replies = generate_replies(loaded.model, loaded.tokenizer, held_out, max_new_tokens=8)
    config = load_config(overrides=["models.device=cpu", f"generation.system_prompt={SYSTEM}",
                                    "generation.max_new_tokens=8"])
    strategy = StrategyFactory(config, StrategyOptions(adapters=(f"dpo={dpo_run.path}",))).build("finetuned")[0]
    assert isinstance(strategy, Finetuned)
    questions = [QAPair(id=str(i), question=e.messages[-1]["content"], answers=(e.completion,))
                 for i, e in enumerate(held_out)]
    assert [a.raw_text.strip() for a in strategy.answer_many(questions)] == replies


def test_dpo_from_an_instruction_tuned_run_starts_from_its_weights(pairs, loop, tmp_path, tiny_generator, tiny_run):
    """--base RUN: the reference (adapter off) is the base run's merged weights (here the session's LoRA run
    of the tiny generator, tuned on demo QA pairs), and the saved run reloads on them."""
    train, held_out = pairs
    sft = tiny_run("lora")
    run = train_preference(train, held_out, _dpo_options(loop, base_run=str(sft.path), model=tiny_generator,
                                                         loop=loop(epochs=1, max_steps=2)), tmp_path / "dpo")
    curve = [row for row in map(json.loads, (run.path / "curve.jsonl").read_text().splitlines())]
    assert curve[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # reference = the SFT run, not the base
    assert run.summary()["base_run"] == str(sft.path.resolve())
    loaded = load_trained_generator(run.path, device="cpu")
    sft_model = load_trained_generator(sft.path, device="cpu").model
    with loaded.model.disable_adapter():
        reference = response_logprobs(loaded.model, loaded.tokenizer, _instructions(held_out[:2]), 128)
    assert reference == pytest.approx(response_logprobs(sft_model, loaded.tokenizer, _instructions(held_out[:2]), 128),
                                      abs=1e-3)


def test_rloo_samples_scores_with_the_reward_run_and_reloads(pairs, loop, tmp_path, tiny_generator):
    train, held_out = pairs
    reward_run = train_reward(train[:4], held_out[:2], RewardOptions(loop=loop(epochs=1, max_steps=1), model=tiny_generator,
                                                                     max_length=128, system_prompt=SYSTEM),
                              tmp_path / "reward")
    options = _dpo_options(loop, method="rloo", reward_run=str(reward_run.path), num_generations=2, model=tiny_generator,
                           max_completion_length=8, loop=loop(epochs=1, max_steps=2, batch_size=2, learning_rate=1e-3))
    run = train_preference(train, held_out[:2], options, tmp_path / "rloo")
    curve = [row for row in map(json.loads, (run.path / "curve.jsonl").read_text().splitlines())]
    assert len(curve) == 2 and all("reward" in row and "kl" in row for row in curve)
    summary = run.summary()
    assert {"eval_reward", "before_eval_reward"} <= set(summary["final"])
    assert summary["reward_run"] == str(reward_run.path.resolve())
    assert load_trained_generator(run.path, device="cpu").model is not None


def test_dpo_resumes_after_sigkill_like_an_uninterrupted_run(pairs, tmp_path, tiny_generator, capsys):
    """Two steps of 4 pairs, killed in a `wb` process of its own at the checkpoint after the first; resumed, and
    run uninterrupted, by the same command line in this one."""
    data = tmp_path / "prefs.jsonl"
    _records_file(data, pairs[0][:8])
    eval_data = tmp_path / "held_out.jsonl"
    _records_file(eval_data, pairs[1][:2])
    general = tmp_path / "general.json"  # the forgetting probe on two instructions: three runs stay quick
    general.write_text(json.dumps([{"instruction": r.prompt, "input": "", "output": r.chosen} for r in pairs[1][:2]]))

    def command(output, *extra):
        return ["train", "generator", "--method", "dpo", "--data", str(data), "--eval-data", str(eval_data),
                "--epochs", "1", "--batch-size", "4", "--learning-rate", "1e-3", "--max-length", "128",
                "--checkpoint-every", "1", "--general-data", str(general), "--output", str(output), "--set", "models.device=cpu",
                "--set", f"models.generator={tiny_generator}", "--set", f"generation.system_prompt={SYSTEM}",
                "--set", "generation.max_new_tokens=8", *extra]

    killed = tmp_path / "killed"
    kill_at_first_checkpoint([*WB, *command(killed)], killed, "checkpoint-*")
    assert main(command(killed, "--resume")) == 0, capsys.readouterr().err
    assert main(command(tmp_path / "straight")) == 0, capsys.readouterr().err

    def losses(run):
        return [row["loss"] for row in map(json.loads, (run / "curve.jsonl").read_text().splitlines())]

    assert losses(killed) == pytest.approx(losses(tmp_path / "straight"), abs=1e-5)
    got, expected = (json.loads((run / "summary.json").read_text())["final"] for run in (killed, tmp_path / "straight"))
    assert got == pytest.approx(expected, abs=1e-5)


# ---- bad input ------------------------------------------------------------------------------------------


def test_records_missing_a_response_are_refused_and_pairs_preferring_nothing_skipped(tmp_path, caplog):
    """The shipped data holds 6 pairs with identical responses: they are skipped and named, not fatal."""
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello"}) + "\n")
    with pytest.raises(DatasetError, match=r"missing\.jsonl: line 1: .*rejected"):
        load_preferences(missing)
    same = tmp_path / "same.json"
    same.write_text(json.dumps([{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"},
                                {"prompt": "Yo", "chosen": "Hey ", "rejected": " Hey"}]))
    assert load_preferences(same) == [PreferenceExample("Hi", "Hello", "Go away")]
    assert "same.json: skipped 1 pair(s) whose 'chosen' and 'rejected' are identical" in caplog.text
    assert "record 2" in caplog.text
    same.write_text(json.dumps([{"prompt": "Yo", "chosen": "Hey", "rejected": "Hey"}]))
    with pytest.raises(DatasetError, match=r"same\.json: every pair has identical"):
        load_preferences(same)


def test_a_prompt_longer_than_the_window_is_refused(generator):
    record = PreferenceExample("word " * 200, "yes", "no")
    with pytest.raises(DatasetError, match=r"prefs\.json: the prompt 'word word.*takes \d+ tokens.*max_length=64"):
        check_window([record], generator.tokenizer, SYSTEM, 64, "prefs.json")


def test_rloo_needs_a_reward_run_of_the_same_base(reward_run, pairs, loop, tmp_path):
    train, held_out = pairs
    with pytest.raises(RunError, match="needs a reward model.*wb train reward"):
        train_preference(train, held_out, _dpo_options(loop, method="rloo"), tmp_path / "a")
    other = _dpo_options(loop, method="rloo", reward_run=str(reward_run.path), model="HuggingFaceTB/SmolLM2-360M-Instruct")
    with pytest.raises(RunError, match=r"trained on 'smollm2-135m-instruct', the policy is 'HuggingFaceTB/SmolLM2-360M"):
        train_preference(train, held_out, other, tmp_path / "b")
    with pytest.raises(RunError, match="a reward run, not a generator run"):
        train_preference(train, held_out, _dpo_options(loop, base_run=str(reward_run.path)), tmp_path / "c")
    assert not any((tmp_path / name).exists() for name in "abc")  # refused before a run folder was made


def test_ppo_points_to_its_successor(tmp_path, capsys):
    assert main(["train", "generator", "--method", "ppo", "--data", str(tmp_path / "x.json")]) == 2  # a user error
    err = capsys.readouterr().err
    assert err.startswith("wb: error: ") and "--method rloo" in err and "Traceback" not in err
