"""Every generator method trains a few steps, saves, reloads with the same held-out loss and answers
through the finetuned strategy like the reloaded model; the base weights stay byte-identical; LoRA
merges; the memory savings (logits on labelled positions only, gradient checkpointing) change no number.

These are equalities and bookkeeping: they run on the tiny random generator (tests/conftest.py), the runs
trained once per session (`tiny_run`). The command-line runs at the end train the real SmolLM2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import generator_options
from workbench.cli.main import main
from workbench.config import load_config
from workbench.corpus import QAPair
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
from workbench.models import LoadedGenerator
from workbench.runfolder import RunDir, RunError
from workbench.strategies import Finetuned, StrategyFactory, StrategyOptions
from workbench.training.data import IGNORE_INDEX, pad_batch, tokenize_completions
from workbench.training.generator import (
    apply_method,
    attach_adapter,
    completion_loss,
    completion_token_loss,
    generate_replies,
    load_base,
    load_trained_generator,
    virtual_tokens_prepended,
)
from workbench.training.loop import fit
from workbench.training.merge import merge_run


@pytest.fixture
def lora_run(tiny_run) -> RunDir:
    return tiny_run("lora")


@pytest.mark.parametrize("method", ["prompt-tuning", "prefix-tuning", "ia3", "adapter", "full"])
def test_method_trains_saves_reloads_and_answers(method, tiny_run, qa, tiny_generator):
    run = tiny_run(method)
    _check_run(run, qa[1])
    _check_finetuned_strategy(run, qa[1], tiny_generator)


def test_lora_run_records_everything(lora_run, qa, tiny_generator):
    _check_run(lora_run, qa[1])
    _check_finetuned_strategy(lora_run, qa[1], tiny_generator)
    summary = lora_run.summary()
    adapter_config = json.loads((lora_run.path / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == tiny_generator  # the model's name as given
    assert {"exact_match", "token_f1"} <= set(summary["final"])
    before, after = summary["forgetting"]["before"], summary["forgetting"]["after"]
    assert before["loss"] != after["loss"]
    # the task metric on the general instructions, per item so the change can be tested paired
    assert len(before["rougeL_items"]) == len(after["rougeL_items"]) == 4  # general=train[:4]
    assert before["rougeL"] == pytest.approx(sum(before["rougeL_items"]) / len(before["rougeL_items"]))
    assert all(0 <= x <= 1 for x in before["rougeL_items"] + after["rougeL_items"])
    assert 0 < summary["trainable_percent"] < 1


def _check_run(run: RunDir, held_out) -> None:
    history = run.metrics()
    assert run.is_complete() and [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    loaded = load_trained_generator(run.path, device="cpu")
    tokenized, _ = tokenize_completions(held_out, loaded.tokenizer, 64)
    assert completion_loss(loaded.model, tokenized, loaded.tokenizer.pad_token_id) == pytest.approx(
        history[-1]["eval_loss"], rel=1e-4)


def _check_finetuned_strategy(run: RunDir, held_out, model_name: str) -> None:
    """The finetuned strategy, given the run folder, answers exactly like the run's model loaded on its
    own: adapters switched on a base model (a fresh one here, so adapter types never meet) or, for a
    full run, the run's model on an engine of its own (built by the factory, as `wb eval qa` does)."""
    loaded = load_trained_generator(run.path, device="cpu")
    replies = generate_replies(loaded.model, loaded.tokenizer, held_out[:2], max_new_tokens=8)
    templates, system = load_prompts(), held_out[0].messages[0]["content"]
    if (run.path / "model").is_dir():
        config = load_config(overrides=["models.device=cpu", f"models.generator={model_name}",
                                        f"generation.system_prompt={system}"])
        factory = StrategyFactory(config.updated({"generation.max_new_tokens": 8}),
                                  StrategyOptions(adapters=(f"full={run.path}",)))
        strategy = factory.build("finetuned")[0]
        assert strategy.adapter is None and strategy.engine is not factory.engine and strategy.label == "finetuned[full]"
    else:
        model, tokenizer = load_base(model_name, "cpu")
        engine = GenerationEngine(LoadedGenerator(model_name, model.eval(), tokenizer, model.device),
                                  GenerationSettings(max_new_tokens=8))
        strategy = Finetuned(engine=engine, templates=templates, system_prompt=system,
                             adapter=engine.adapters.load(run.path, "trained"))
    questions = [QAPair(id=str(i), question=e.messages[-1]["content"], answers=e.answers) for i, e in enumerate(held_out[:2])]
    assert [a.raw_text.strip() for a in strategy.answer_many(questions)] == replies


def test_eval_qa_scores_bottleneck_and_full_runs_given_as_adapters(tiny_run, tiny_generator, qa, tmp_path, capsys):
    """`wb eval qa --strategies finetuned --adapter RUN_DIR` for the two kinds that are not PEFT adapters
    (labels and records: on the tiny generator's runs; `wb eval qa` on the real model: tests/strategies/test_cli.py)."""
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": e.messages[-1]["content"], "answers": list(e.answers)}) + "\n"
                            for i, e in enumerate(qa[1])))
    bottleneck, full = tiny_run("adapter"), tiny_run("full")
    assert main(["eval", "qa", "--data", str(data), "--strategies", "finetuned", "--adapter", f"bottleneck={bottleneck.path}",
                 "--adapter", f"full={full.path}", "--max-new-tokens", "4", "--output", str(tmp_path / "eval"), "--json",
                 "--set", "models.device=cpu", "--set", f"models.generator={tiny_generator}"]) == 0
    scores = {s["strategy"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(scores) == {"finetuned[bottleneck]", "finetuned[full]"}
    assert all(s["questions"] == len(qa[1]) for s in scores.values())
    answers = {label: [json.loads(line)["answer"] for line in Path(s["predictions"]).read_text().splitlines()]
               for label, s in scores.items()}
    assert {a["adapter"] for a in answers["finetuned[bottleneck]"]} == {"bottleneck"}
    assert {a["model"] for a in answers["finetuned[full]"]} == {str(full.path)}


def test_prompt_is_masked_out_of_the_loss(qa, tiny):
    tokenized, report = tokenize_completions(qa[0][:2], tiny.tokenizer, 512)  # SmolLM2's tokenizer and template
    for example, item in zip(qa[0], tokenized):
        learned = [t for t in item["labels"] if t != IGNORE_INDEX]
        assert tiny.tokenizer.decode(learned) == example.completion + "<|im_end|>"
    assert report.truncated == 0


@pytest.mark.parametrize("method", ["lora", "prompt-tuning", "prefix-tuning", "ia3", "adapter"])
def test_base_weights_stay_byte_identical(method, qa, tmp_path, loop, tiny_generator):
    model, tokenizer = load_base(tiny_generator, "cpu")
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    model = apply_method(model, generator_options(loop, method, tiny_generator))
    tokenized, _ = tokenize_completions(qa[0], tokenizer, 64)
    fit(model, [{"params": [p for p in model.parameters() if p.requires_grad]}], tokenized,
        lambda batch: pad_batch(batch, tokenizer.pad_token_id), [len(t["input_ids"]) for t in tokenized],
        loop(epochs=1, learning_rate=1e-3), RunDir(tmp_path), lambda m: {"eval_loss": 0.0})
    frozen = {_base_name(n, base): p for n, p in model.named_parameters() if not p.requires_grad}
    trained = [p for p in model.parameters() if p.requires_grad]
    assert set(frozen) == set(base)  # every base weight is frozen, under its wrapped name
    assert all(torch.equal(frozen[n].detach(), base[n]) for n in base)
    assert any(p.detach().abs().sum() > 0 for p in trained)


def _base_name(name: str, base: dict) -> str:
    """A wrapped parameter's name in the plain model: peft's prefix (`base_model.model.` for LoRA/IA3,
    `base_model.` for prompt learning) and `base_layer`, our AdaptedMLP's `mlp.mlp.`."""
    plain = name.replace(".base_layer", "").replace("mlp.mlp.", "mlp.")
    return next((c for c in (plain.removeprefix("base_model.model."), plain.removeprefix("base_model.")) if c in base), plain)


def test_merged_model_matches_base_plus_adapter(lora_run, qa, tmp_path, tiny_generator):
    from transformers import AutoModelForCausalLM

    merged_dir = merge_run(lora_run.path, tmp_path / "merged")
    adapted = load_trained_generator(lora_run.path, device="cpu")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    base, _ = load_base(tiny_generator, "cpu")
    batch = pad_batch(tokenize_completions(qa[1], adapted.tokenizer, 64)[0], adapted.tokenizer.pad_token_id)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        expected, got, untouched = adapted.model(**inputs).logits, merged(**inputs).logits, base.eval()(**inputs).logits
    adapter_effect = (expected - untouched).abs().max()
    merge_error = (got - expected).abs().max()
    # Merging re-rounds each float32 weight, so logits move by ~1e-4; the adapter moves them far more.
    assert merge_error < adapter_effect / 50, (merge_error, adapter_effect)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)


def test_adapter_from_another_base_model_is_refused(lora_run, tmp_path, tiny_generator):
    adapter = tmp_path / "adapter"
    shutil.copytree(lora_run.path / "adapter", adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "gpt2"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    model, _ = load_base(tiny_generator, "cpu")
    with pytest.raises(RunError, match="trained on base model 'gpt2'"):
        attach_adapter(model, adapter, tiny_generator)


@pytest.mark.parametrize("method", ["lora", "prompt-tuning", "prefix-tuning"])
def test_logits_on_labelled_positions_give_the_transformers_loss(method, qa, loop, tiny_generator):
    """The selective LM head reproduces `model(**batch).loss` on a batch with masked prompts and padding."""
    model, tokenizer = load_base(tiny_generator, "cpu")
    torch.manual_seed(0)
    model = apply_method(model, generator_options(loop, method, tiny_generator)).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:  # move every adapter off its neutral start (LoRA's B starts at zero)
                param.add_(0.02 * torch.randn_like(param))
    batch = pad_batch(tokenize_completions(qa[0][:4], tokenizer, 64)[0], tokenizer.pad_token_id)
    learned = batch["labels"][:, 1:] != IGNORE_INDEX
    assert (batch["attention_mask"] == 0).any() and learned.sum() < learned.numel() / 2  # padding, masked prompts
    with torch.no_grad():
        expected = model(**batch).loss
        total, count = completion_token_loss(model, batch, virtual_tokens_prepended(model))
    assert count == learned.sum()
    assert abs((total / count).item() - expected.item()) < 1e-5


def test_gradient_checkpointing_changes_memory_not_gradients(qa, loop, tiny_generator):
    """One LoRA backward pass (dropout on) gives the same gradients with activations recomputed as with them kept."""
    gradients = {}
    for checkpointing in (False, True):
        model, tokenizer = load_base(tiny_generator, "cpu")
        torch.manual_seed(0)
        model = apply_method(model, generator_options(loop, "lora", tiny_generator, gradient_checkpointing=checkpointing))
        assert model.is_activation_checkpointing == checkpointing
        batch = pad_batch(tokenize_completions(qa[0][:4], tokenizer, 64)[0], tokenizer.pad_token_id)
        total, count = completion_token_loss(model.train(), batch, virtual_tokens=0)
        (total / count).backward()
        gradients[checkpointing] = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert any(g.abs().sum() > 0 for g in gradients[True].values())
    for name, gradient in gradients[False].items():
        torch.testing.assert_close(gradients[True][name], gradient, rtol=1e-5, atol=1e-7)


def test_cli_trains_with_retrieved_context_and_records_its_settings(tmp_path, capsys, demo_corpus, small_index):
    """RAFT with retrieval: each prompt carries the top-k chunks of an index (the session's `normans`); without
    --index, a clear error. The run records the settings it trained with (here gradient checkpointing,
    switched off by its flag)."""
    _, root = small_index
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": p.question, "answers": list(p.answers)}) + "\n"
                            for p in demo_corpus.qa_pairs[:12]))
    command = ["train", "generator", "--data", str(data), "--with-context", "retrieved", "--max-steps", "1",
               "--batch-size", "2", "--max-length", "512", "--eval-generate", "0", "--no-gradient-checkpointing",
               "--set", "models.device=cpu",
               "--set", f"index.root={root}", "--set", "generation.max_new_tokens=4", "--set", "training.forgetting_items=2"]
    assert main([*command, "--output", str(tmp_path / "no-index")]) == 2
    assert "training with retrieved context needs an index to retrieve from (--index NAME" in capsys.readouterr().err
    assert main([*command, "--index", "normans", "--k", "2", "--output", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["source"] == f"{data} (context: retrieved top-2 from index 'normans')" and config["index"] == "normans"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["truncation"]["train"]["dropped"] == 0
    assert config["options"]["gradient_checkpointing"] is False and summary["gradient_checkpointing"] is False
