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
    assert {name: listed[name]["kind"] for name in listed} == {EMBEDDER: "embedder", GENERATOR: "generator"}
    for model in listed.values():
        assert model["ready"] is True and model["size_bytes"] > 0
        assert os.path.isdir(model["location"])
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
