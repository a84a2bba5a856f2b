"""QLoRA: LoRA trained on the base model loaded in 4 bits (NF4). On the tiny random generator: its block
weights load in 4 bits and the rest in float32, the loss falls in every epoch (also after evaluations
without gradients, which bitsandbytes would otherwise repack for inference: workbench.models.quantization),
and the adapter, a LoRA folder, answers through `load_trained_generator` and the finetuned strategy on
the float32 base. Resumed = uninterrupted: tests/training/test_resume.py. Memory and speed against LoRA
on SmolLM2: bench/qlora.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from torch import nn

from tests.conftest import TINY_SHAPE, generator_options
from tests.training.test_generator import _check_finetuned_strategy
from workbench.runfolder import RunDir, RunError
from workbench.training.data import tokenize_completions
from workbench.training.generator import (
    apply_method,
    completion_loss,
    load_base,
    load_merged_run,
    load_starting_point,
    load_trained_generator,
    train_generator,
)
from workbench.training.runs import parameter_counts

BLOCK_LINEARS = 7  # q, k, v, o, gate, up and down projections


def _linear4bit(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if type(module).__name__ == "Linear4bit"]


@pytest.fixture(scope="module")
def qlora_run(tiny_generator, qa, loop, tmp_path_factory) -> RunDir:
    """2 epochs of 3 steps; the forgetting probe answers before training, 2 held-out questions are answered
    at each epoch's end: evaluations without gradients before and between the training steps."""
    train, held_out = qa
    options = generator_options(loop, "qlora", tiny_generator, eval_generate=2)
    return train_generator(train, options, tmp_path_factory.mktemp("qlora") / "run", held_out, general=train[:4])


def test_qlora_trains_lora_on_the_block_weights_in_4_bits(qlora_run, tiny_generator, loop):
    options = generator_options(loop, "qlora", tiny_generator)
    quantized, _ = load_starting_point(options)
    assert len(_linear4bit(quantized)) == BLOCK_LINEARS * TINY_SHAPE["num_hidden_layers"]
    assert all(".layers." in name for name in _linear4bit(quantized))  # embeddings and output layer stay float32
    lora = apply_method(load_base(tiny_generator, "cpu")[0], generator_options(loop, "lora", tiny_generator))
    summary = qlora_run.summary()
    # the same adapter as LoRA's, on a model of as many weights (a 4-bit weight counted as one, not half a byte)
    assert {k: summary[k] for k in ("trainable_params", "total_params")} == {
        k: v for k, v in parameter_counts(lora).items() if k != "trainable_percent"}
    history = qlora_run.metrics()
    assert history[1]["train_loss"] < history[0]["train_loss"]  # the evaluations left the 4-bit layers trainable
    assert summary["forgetting"]["after"]["loss"] != summary["forgetting"]["before"]["loss"]


def test_qlora_adapter_is_a_lora_folder_answering_on_the_float32_base(qlora_run, qa, tiny_generator):
    adapter_config = json.loads((qlora_run.path / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA" and adapter_config["base_model_name_or_path"] == tiny_generator
    loaded = load_trained_generator(qlora_run.path, device="cpu")
    assert not _linear4bit(loaded.model)
    # the held-out loss as in training, up to the 4-bit rounding of the base weights the adapter trained through
    tokenized, _ = tokenize_completions(qa[1], loaded.tokenizer, 64)
    loss = completion_loss(loaded.model, tokenized, loaded.tokenizer.pad_token_id)
    assert loss == pytest.approx(qlora_run.metrics()[-1]["eval_loss"], rel=1e-2)
    _check_finetuned_strategy(qlora_run, qa[1], tiny_generator)
    assert not _linear4bit(load_merged_run(qlora_run.path, "cpu")[0])  # merges like LoRA (`base_run`, `wb export`)


def test_qlora_does_not_start_from_another_run(qlora_run, qa, loop, tiny_generator, tmp_path):
    options = generator_options(loop, "qlora", tiny_generator, base_run=str(qlora_run.path))
    with pytest.raises(RunError, match="train it with lora"):
        train_generator(qa[0], options, tmp_path / "run", qa[1])
    assert not (tmp_path / "run").exists()


def test_importing_peft_prints_no_warning_about_an_optional_bitsandbytes_kernel():
    """On CPUs with AVX512-BF16 (this one), bitsandbytes would print "Failed to load CPU gemm_4bit_forward ...
    pip install kernels" under every `wb` command."""
    done = subprocess.run([sys.executable, "-c", "import workbench, peft"], capture_output=True, text=True)
    assert done.returncode == 0 and "gemm_4bit_forward" not in done.stderr
