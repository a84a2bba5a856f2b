"""`wb estimate`: exact parameter counts (published figures, real peft models), the activation trace
against real autograd, the block extrapolation, the advisor's arithmetic, the pilot, and bad input.

The comparisons with a real model run on the tiny random generator (tests/conftest.py), whose architecture
the estimator reads from its folder like any other; the embedded SmolLM2's shipped architecture is checked
by its published count. How close a pilot's wall-clock step time lands is no test (it depends on what else
the machine runs): bench/estimate.py measures it, with the memory, on every setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.estimate import DEVICE_NAMES, method_names
from workbench.estimate.advisor import Corpus, advise
from workbench.estimate.architecture import METHODS, build_on_meta, count_parameters, load_architecture, trace_step
from workbench.estimate.devices import GPUS, gpu_named
from workbench.estimate.estimator import Setting, _trace, estimate
from workbench.training.generator import GeneratorOptions, apply_method, load_base
from workbench.training.runs import parameter_counts

# Published parameter counts (model cards / safetensors index totals).
PUBLISHED = {
    "smollm2-135m": 134_515_008,  # the embedded generator's (its safetensors hold as many)
    "smollm2-360m": 361_821_120,
    "smollm2-1.7b": 1_711_376_384,
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-7b": 7_615_616_512,
    "llama-3-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
}
RAFT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_names_the_config_accepts_match_the_registries():
    assert set(method_names()) == set(METHODS)
    assert set(DEVICE_NAMES) == {"cpu", *GPUS}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_architectures_have_their_published_parameter_counts(name, config):
    options = GeneratorOptions.from_config(config)
    counts = count_parameters(build_on_meta(load_architecture(name), "none", options, torch.bfloat16))
    assert counts.total == PUBLISHED[name]
    assert counts.trainable == 0


@pytest.mark.parametrize("method", ["lora", "prompt-tuning", "ia3", "adapter", "full"])
def test_trainable_counts_equal_those_of_the_real_peft_model(method, config, tiny_generator):
    config = config.updated({"models.generator": tiny_generator, "training.generator.method": method, "training.lora.r": 16,
                             "training.lora.target_modules": RAFT_TARGETS})
    options = GeneratorOptions.from_config(config)
    real, _ = load_base(options.model, "cpu")
    real = apply_method(real, options)
    counted = count_parameters(build_on_meta(load_architecture(options.model), method, options, torch.float32))
    expected = parameter_counts(real)
    assert (counted.total, counted.trainable) == (expected["total_params"], expected["trainable_params"])


@pytest.mark.parametrize("method,checkpointing", [("full", False), ("lora", True), ("lora", False)])
def test_traced_activations_equal_what_autograd_saves_on_the_real_model(method, checkpointing, config, tiny_generator):
    """The fake-tensor trace and a real forward on the real weights keep the same bytes for backward."""
    config = config.updated({"models.generator": tiny_generator, "training.generator.method": method,
                             "training.generator.gradient_checkpointing": checkpointing,
                             "training.lora.target_modules": RAFT_TARGETS})
    options = GeneratorOptions.from_config(config)
    batch, length, labelled = 2, 48, 16
    traced = trace_step(build_on_meta(load_architecture(options.model), method, options, torch.float32),
                        batch, length, labelled, backward=False)

    model, _ = load_base(options.model, "cpu")
    model = apply_method(model, options).train()
    parameters = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    padded = torch.ones(batch, length, dtype=torch.long)
    padded[0, :5] = 0  # a padded batch, as training sees: the attention mask is materialized (the trace always does)
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        logits = model(input_ids=torch.randint(0, 1000, (batch, length)), attention_mask=padded,
                       logits_to_keep=labelled).logits
        torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), torch.zeros(batch * labelled, dtype=torch.long))
    assert traced.activation_bytes == sum(saved.values())


def test_extrapolating_from_two_blocks_equals_tracing_every_block(config):
    config = config.updated({"training.generator.batch_size": 2, "training.generator.max_length": 64,
                             "estimate.completion_tokens": 16})
    setting = Setting.from_config(config)
    extrapolated = _trace(setting, 2, True)
    whole = trace_step(build_on_meta(load_architecture(setting.model), setting.method, setting.generator_options,
                                     torch.float32), 2, 64, 16)
    assert extrapolated.activation_bytes == whole.activation_bytes
    assert extrapolated.flops == whole.flops


def test_lora_steps_cost_two_thirds_of_full_finetuning_and_checkpointing_adds_most_of_a_forward(config):
    def run(method: str, checkpointing: bool):
        updated = config.updated({"estimate.model": "llama-3-8b", "estimate.device": "h100", "estimate.method": method,
                                  "training.generator.gradient_checkpointing": checkpointing,
                                  "training.generator.batch_size": 1, "training.generator.max_length": 512})
        return estimate(Setting.from_config(updated))

    full, lora, lora_checkpointed = run("full", False), run("lora", False), run("lora", True)
    assert lora.flops_per_step / full.flops_per_step == pytest.approx(2 / 3, abs=0.03)  # no frozen weight gradients
    # Recomputation repeats each block's forward, but torch stops once the tensors backward needs are
    # back, so the last projection (down_proj, a third of the MLP) is not run again.
    block_forward = 2 * lora.parameters.frozen_block_linear * 512
    assert 0.65 < (lora_checkpointed.flops_per_step - lora.flops_per_step) / block_forward < 0.85


def test_qlora_stores_an_8b_model_in_about_5_gb_and_fits_a_24_gb_gpu(config):
    updated = config.updated({"estimate.model": "llama-3-8b", "estimate.method": "qlora", "estimate.device": "a10",
                              "training.generator.batch_size": 1, "training.generator.max_length": 1024})
    result = estimate(Setting.from_config(updated))
    assert 4.5e9 < result.memory["weights"] < 6e9  # 7.0 B block weights at 0.52 bytes + 1.05 B in bf16
    assert result.fits
    full = estimate(Setting.from_config(updated.updated({"estimate.method": "full"})))
    assert full.memory["optimizer"] == 8 * full.parameters.total
    assert not full.fits


def test_the_advisor_finds_where_the_cheaper_per_day_strategy_breaks_even(config):
    updated = config.updated({"estimate.model": "qwen2.5-7b", "estimate.device": "h100", "estimate.method": "lora",
                              "estimate.queries_per_day": 100_000, "estimate.updates_per_month": 0.0,
                              "estimate.horizon_days": 730})
    result = estimate(Setting.from_config(updated))
    advice = advise(updated, result, Corpus(chunks=1000, tokens=200_000, embedder_params=22_000_000))
    costs = advice.cumulative_cost
    assert advice.setup_cost["finetuned"] > advice.setup_cost["rag"]  # training costs more than embedding
    assert advice.cost_per_day["finetuned"] < advice.cost_per_day["rag"]  # shorter prompts, no retraining
    crossing = int((advice.setup_cost["finetuned"] - advice.setup_cost["rag"])
                   / (advice.cost_per_day["rag"] - advice.cost_per_day["finetuned"]))
    assert 0 <= crossing < 730
    assert costs["finetuned"][crossing] >= costs["rag"][crossing]
    assert costs["finetuned"][crossing + 1] <= costs["rag"][crossing + 1]
    assert advice.recommendation.startswith("Over 730 days, finetuned costs least")


def test_the_cli_answers_for_a_7b_model_offline(capsys, tmp_path):
    assert main(["estimate", "--model", "mistral-7b", "--method", "lora", "--device", "a100-80gb", "--seq-len", "1024",
                 "--batch-size", "2", "--json", "--output", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["estimate"]["parameters"]["total"] == PUBLISHED["mistral-7b"] + report["estimate"]["parameters"]["trainable"]
    assert report["estimate"]["fits"] is True
    assert {"estimate.json", "memory.png", "break-even.png"} <= {p.name for p in tmp_path.iterdir()}


def test_unknown_models_and_broken_config_files_are_named(tmp_path):
    with pytest.raises(WorkbenchError, match="no-such-model"):
        load_architecture("no-such-model")
    broken = tmp_path / "config.json"
    broken.write_text("{not json")
    with pytest.raises(WorkbenchError, match=str(broken)):
        load_architecture(str(broken))
    broken.write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(WorkbenchError, match="model_type"):
        load_architecture(str(broken))


def test_gpu_names_map_to_the_table():
    assert gpu_named("NVIDIA H100 80GB HBM3") == "h100"
    assert gpu_named("NVIDIA A100-SXM4-80GB") == "a100-80gb"
    assert gpu_named("NVIDIA A10G") == "a10"
    with pytest.raises(WorkbenchError, match="L40S"):
        gpu_named("NVIDIA L40S")


def test_a_pilot_trains_the_estimated_step_here_and_reports_both_figures(tiny_generator, tmp_path, capsys):
    """`wb estimate --pilot 3` on the tiny generator: three real steps of exactly the estimated shape (2 x 64
    tokens, 16 learned), measured beside the estimate of that step on this CPU."""
    assert main(["estimate", "--pilot", "3", "--json", "--set", f"models.generator={tiny_generator}",
                 "--set", "training.generator.batch_size=2", "--set", "training.generator.max_length=64",
                 "--set", "estimate.completion_tokens=16", "--set", f"training.output_root={tmp_path}"]) == 0
    report = json.loads(capsys.readouterr().out)
    pilot, rows = report["pilot"], {row["figure"]: row for row in report["comparisons"]}
    assert (pilot["steps"], pilot["labelled_tokens"], pilot["memory_source"], pilot["device"]) == (3, 16, "rss", "cpu")
    assert pilot["heap_kept"] == ("MALLOC_MMAP_THRESHOLD_" not in os.environ)
    assert list(rows) == ["seconds per step", "peak memory (bytes)"]
    assert all(row["estimated"] > 0 and row["measured"] > 0 for row in rows.values())
    assert all(row["ratio"] == pytest.approx(row["estimated"] / row["measured"]) for row in rows.values())
    # the memory compared is the estimate of the setting as given (float32 on this CPU, 16 tokens learned),
    # and a figure that includes the heap glibc keeps says so
    assert rows["peak memory (bytes)"]["estimated"] == report["estimate"]["peak_memory"]
    assert rows["peak memory (bytes)"]["how"] == ("measured with glibc's heap" if pilot["heap_kept"] else "measured")


def test_the_pilot_measures_the_memory_the_estimate_counts(tmp_path):
    """SmolLM2 with LoRA and checkpointing, 2 x 128 tokens (32 learned): the peak memory of 3 real steps, in a
    process of its own (its RSS starts clean) with glibc returning freed tensors to the system, so that RSS is
    the live tensors the estimate counts, lands within a quarter of the estimate. The peak is the kernel's
    (VmHWM), exact whatever else the machine runs (bench/estimate.py measures every setting, and the step
    times, which depend on what else runs)."""
    wb = Path(sys.executable).parent / "wb"
    output = subprocess.run([str(wb), "estimate", "--pilot", "3", "--json", "--set", "training.generator.batch_size=2",
                             "--set", "training.generator.max_length=128", "--set", "estimate.completion_tokens=32",
                             "--set", f"training.output_root={tmp_path}"], check=True, capture_output=True, text=True,
                            env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "1048576", "TQDM_DISABLE": "1"}).stdout
    report = json.loads(output)
    assert report["pilot"]["labelled_tokens"] == 32 and not report["pilot"]["heap_kept"]
    [memory] = [row for row in report["comparisons"] if row["figure"] == "peak memory (bytes)"]
    assert memory["how"] == "measured" and 0.75 <= memory["ratio"] <= 1.25, memory
