"""The embedded models load for real; the generator's one-time conversion is atomic."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from workbench.cli.main import main
from workbench.models import (
    EMBEDDER,
    GEMMA3,
    GENERATOR,
    ModelUnavailable,
    is_generator_ready,
    list_models,
    load_embedder,
    load_generator,
    prepare_generator,
    resolve_device,
)
from workbench.models.registry import generator_cache_dir


def test_embedder_gives_normalized_384_dim_embeddings(embedder):
    vectors = embedder.encode(["Steam engines convert heat into work.", "Victoria is a state."],
                              normalize_embeddings=True)
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4


def test_generator_answers_with_its_chat_template(generator):
    tokenizer, model = generator.tokenizer, generator.model
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text
    assert model.dtype == torch.float32 and generator.device.type == "cpu"


def test_models_are_loaded_once_per_process(embedder):
    """However a caller names the device (defaulted, `auto`, or the one `auto` picks), it shares one copy."""
    shared = load_generator(GENERATOR)
    assert load_generator(GENERATOR, "auto") is shared
    assert load_generator(GENERATOR, str(resolve_device("auto"))) is shared
    assert load_embedder("minilm") is embedder
    assert load_embedder("minilm", "auto") is embedder


def test_list_models_reports_ready_embedded_models(generator):
    models = {m.name: m for m in list_models()}
    assert models["minilm"].ready and models["minilm"].size_bytes > 50_000_000
    assert models[GENERATOR].ready and models[GENERATOR].location == generator_cache_dir()


def test_models_list_and_prepare_print_json_for_scripts(generator, capsys):
    """Scripts read `wb models list|prepare --json`: each embedded model with its state, and the cache path."""
    assert main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert {name: listed[name]["kind"] for name in listed} == {EMBEDDER: "embedder", GENERATOR: "generator",
                                                                GEMMA3: "generator"}
    for name in (EMBEDDER, GENERATOR):
        assert listed[name]["ready"] is True and listed[name]["size_bytes"] > 0
        assert os.path.isdir(listed[name]["location"]) and listed[name]["license"] == "Apache-2.0"
    assert listed[GEMMA3]["license"].startswith("Gemma Terms of Use") and listed[GEMMA3]["license_file"].endswith("GEMMA_TERMS.html")
    assert listed[GENERATOR]["location"] == str(generator_cache_dir())

    weights = {f: f.stat().st_mtime_ns for f in generator_cache_dir().iterdir() if f.is_file()}
    assert main(["models", "prepare", "--json"]) == 0
    prepared = json.loads(capsys.readouterr().out)
    assert set(prepared) == {"path", "seconds"} and isinstance(prepared["seconds"], float)
    assert prepared["path"] == str(generator_cache_dir()) and os.path.isdir(prepared["path"])
    # already converted: nothing is rewritten
    assert {f: f.stat().st_mtime_ns for f in generator_cache_dir().iterdir() if f.is_file()} == weights


def test_missing_model_is_a_clear_error():
    with pytest.raises(ModelUnavailable, match="no-such-org/no-such-model.*offline"):
        load_generator("no-such-org/no-such-model")


def test_a_full_finetuning_run_folder_serves_as_a_generator(tmp_path):
    from workbench.models.registry import resolve

    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    assert resolve(str(tmp_path / "run"), "generator") == str(tmp_path / "run" / "model")
    assert resolve(str(tmp_path / "run" / "model"), "generator") == str(tmp_path / "run" / "model")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(Exception, match="unknown device"):
        resolve_device("tpu-9000")
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_cache_folder_without_ready_marker_is_not_ready(tmp_path, monkeypatch, generator):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    target = generator_cache_dir()
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"truncated")
    assert not is_generator_ready()


def test_killed_conversion_is_detected_and_redone(tmp_path, monkeypatch):
    """SIGKILL the conversion while it writes: nothing looks ready, and the next prepare completes it."""
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "models", "prepare"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models_dir = tmp_path / "models"
    deadline = time.monotonic() + 180
    while not list(models_dir.glob(f".{GENERATOR}.tmp-*")) and process.poll() is None:
        assert time.monotonic() < deadline, "conversion never started writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(models_dir.glob(f".{GENERATOR}.tmp-*")), "expected a half-written temporary folder"

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    assert not is_generator_ready()
    path = prepare_generator()
    assert is_generator_ready()
    assert not list(models_dir.glob(f".{GENERATOR}.tmp-*")), "leftover temporary folder was not removed"
    assert (path / "model.safetensors").stat().st_size > 400_000_000


@pytest.mark.long
def test_gemma_is_prompted_as_a_base_model_answers_and_finetunes(tmp_path):
    """The second embedded generator, end to end: a completion prompt (no chat turns), short answers that
    stop at the line's end, and the adapters that reach its sliding-window attention (LoRA in the
    layers, prefix tuning in the attention cache) training and answering side by side."""
    from workbench.config import load_config
    from workbench.models.prompt_format import COMPLETION_TEMPLATE
    from workbench.requests import GeneratorRequest
    from workbench.session import Workbench
    from workbench.strategies import StrategyOptions

    gemma = load_generator(GEMMA3)
    assert gemma.tokenizer.chat_template == COMPLETION_TEMPLATE
    prompt = gemma.tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."},
                                                  {"role": "user", "content": "Who wrote Hamlet?"}],
                                                 tokenize=False, add_generation_prompt=True)
    assert prompt == "<bos>Be brief.\n\nWho wrote Hamlet?\nAnswer:"
    config = load_config(overrides=[f"models.generator={GEMMA3}", f"training.output_root={tmp_path}",
                                    "training.max_steps=1", "training.generator.batch_size=2",
                                    "training.forgetting_items=0", "training.generator.eval_generate=0",
                                    "training.checkpoint_every=0", "generation.max_new_tokens=12"])
    runs = [Workbench(config.updated({"training.generator.method": method})).train(GeneratorRequest(output=tmp_path / method)) for method in ("lora", "prefix-tuning")]
    outcomes = Workbench(config).ask("What is the capital of France?", ["zero-shot", "finetuned"],
                       StrategyOptions(adapters=tuple(str(run.path) for run in runs)))
    assert [o.label for o in outcomes] == ["zero-shot", "finetuned[lora]", "finetuned[prefix-tuning]"]
    assert all(o.error is None and o.answers[0].text and "\n" not in o.answers[0].raw_text.strip() for o in outcomes)
    assert "Paris" in outcomes[0].answers[0].text
