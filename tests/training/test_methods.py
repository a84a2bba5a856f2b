"""The method registries: a generator method defined in one place (here, in this file) trains, saves,
loads back and answers through the ordinary trainer; every entry is consistent and importing the
registries loads no torch; run files that cannot be read safely end in a message naming the file."""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from workbench.cli.main import BUG_REPORT_EXIT, main
from workbench.config import load_config
from workbench.errors import WorkbenchError
from workbench.estimate.architecture import METHODS as ESTIMATE_METHODS
from workbench.models import methods
from workbench.models.methods import (
    GeneratorMethod,
    generator_method,
    generator_method_names,
    generator_methods,
    register_generator_method,
)
from workbench.preference import PREFERENCE_METHODS
from workbench.runfolder import RunError
from workbench.session import Workbench
from workbench.training.classifier import HEAD_FILE, ClassifierOptions, train_classifier
from workbench.training.classifier_methods import classifier_method, classifier_method_names
from workbench.training.data import tokenize_completions
from workbench.training.generator import (
    ADAPTER_DIR,
    GeneratorOptions,
    completion_loss,
    generate_replies,
    load_base,
    load_trained_generator,
    supervised_method,
    train_generator,
)

# ---- a method added in one place: norm tuning -----------------------------------------------------------
# Only the normalisation layers' scales train (LayerNorm tuning); the run saves them and a config that
# records the adapter's type and base model, which is how loading finds this method again.

NORM_TUNING, NORMS_FILE = "NORM_TUNING", "norms.safetensors"


def _is_norm(name: str) -> bool:
    return "norm" in name


def _apply_norm_tuning(model, options):
    model.requires_grad_(False)
    for name, param in model.named_parameters():
        param.requires_grad_(_is_norm(name))
    return model


def _save_norms(model, tokenizer, options, folder: Path, weights=None) -> Path:  # not shardable: weights is None
    adapter = folder / ADAPTER_DIR
    adapter.mkdir()
    save_file({n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}, adapter / NORMS_FILE)
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": NORM_TUNING, "base_model_name_or_path": options.base_run or options.model}))
    return adapter


def _attach_norms(model, folder: Path):
    unexpected = model.load_state_dict(load_file(folder / NORMS_FILE), strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"tensors {unexpected[:3]} are not in the model")
    return model


NORM_TUNING_METHOD = GeneratorMethod(
    name="norm-tuning", description="the normalisation layers' scales train",
    apply=_apply_norm_tuning, save=_save_norms, attach=_attach_norms, adapter_type=NORM_TUNING,
)


@pytest.fixture
def norm_tuning(monkeypatch):
    """The example method registered, for this test only: registration is process-wide, so the test
    registers into a fresh registry (which finds the built-in methods itself), put back afterwards."""
    monkeypatch.setattr(methods, "_GENERATOR_METHODS", methods.MethodRegistry("generator method", methods.__name__))
    return register_generator_method(NORM_TUNING_METHOD)


def test_a_method_defined_outside_the_package_trains_saves_loads_and_answers(norm_tuning, qa, loop, tmp_path):
    train, held_out = qa
    assert "norm-tuning" in generator_method_names()
    assert "norm-tuning" in Workbench.setting_choices("training.generator.method")  # `wb train --method`, the pages
    assert "norm-tuning" in Workbench.setting_choices("estimate.method")  # the estimator profiles it too
    Workbench(load_config(overrides=["training.generator.method=norm-tuning"]))  # the config's check accepts it
    options = GeneratorOptions(loop=loop(epochs=1, batch_size=2, max_steps=1, learning_rate=5e-3, warmup_ratio=0.0),
                               method="norm-tuning", model="smollm2-135m-instruct",
                               max_length=48, eval_generate=0, max_new_tokens=8)
    run = train_generator(train[:4], options, tmp_path / "run", held_out[:2])

    summary = run.summary()
    assert run.is_complete() and summary["method"] == "norm-tuning" and summary["steps"] == 1
    assert summary["gradient_checkpointing"] is True  # the generic trainer applied its settings to the new method
    base = dict(load_base("smollm2-135m-instruct", "cpu")[0].named_parameters())
    assert summary["trainable_params"] == sum(p.numel() for n, p in base.items() if _is_norm(n)) > 0
    assert sorted(p.name for p in (run.path / ADAPTER_DIR).iterdir()) == ["adapter_config.json", NORMS_FILE]
    assert not (run.path / "model").exists()

    loaded = load_trained_generator(run.path, device="cpu")
    trained = dict(loaded.model.named_parameters())
    assert any(not torch.equal(trained[n], base[n]) for n in base if _is_norm(n))  # the trained scales came back
    assert all(torch.equal(trained[n], base[n]) for n in base if not _is_norm(n))  # and nothing else moved
    tokenized, _ = tokenize_completions(held_out[:2], loaded.tokenizer, 48)
    assert completion_loss(loaded.model, tokenized, loaded.tokenizer.pad_token_id) == pytest.approx(
        run.metrics()[-1]["eval_loss"], rel=1e-4)
    replies = generate_replies(loaded.model, loaded.tokenizer, held_out[:2], max_new_tokens=8)
    assert len(replies) == 2 and any(replies)


def test_a_registered_name_is_taken_once(norm_tuning):
    register_generator_method(norm_tuning)  # the same entry again: nothing changes
    with pytest.raises(WorkbenchError, match="generator method 'lora' is already registered"):
        register_generator_method(GeneratorMethod(name="lora", description="another lora"))


# ---- the registries -------------------------------------------------------------------------------------


def test_every_entry_is_filed_under_its_own_name():
    names = generator_method_names()
    assert {"lora", "qlora", "prompt-tuning", "prefix-tuning", "ia3", "adapter", "full", "dpo", "rloo"} <= set(names)
    assert all(generator_method(name).name == name for name in names)
    assert len(set(names)) == len(names)
    assert set(classifier_method_names()) == {"feature", "head", "last-n", "full", "lora"}
    assert all(classifier_method(name).name == name for name in classifier_method_names())


def test_entries_carry_what_generic_code_used_to_decide_by_name():
    by = {m.name: m for m in generator_methods()}
    supervised = {name for name, m in by.items() if m.objective == "supervised"}
    assert all(by[name].apply and by[name].save and by[name].description for name in supervised)
    assert set(PREFERENCE_METHODS) == {"dpo", "rloo"} == set(by) - supervised
    assert all(by[name].apply is None for name in PREFERENCE_METHODS)
    assert {name for name, m in by.items() if m.can_merge} == {"lora", "qlora", "ia3"}
    assert {name for name, m in by.items() if m.shares_batch} == {"lora", "qlora"}
    assert {name for name, m in by.items() if m.quantization} == {"qlora"}
    assert {name for name, m in by.items() if not m.checkpointing} == {"prefix-tuning"}
    types = [m.adapter_type for m in by.values() if m.adapter_type]
    assert len(types) == len(set(types)) and by["adapter"].adapter_type == "BOTTLENECK"
    assert by["full"].attach is None and by["full"].adapter_type is None  # it saves a complete model
    # the estimator prices every method the trainer applies, as that method
    assert all(ESTIMATE_METHODS[name].as_generator_method == name for name in supervised)
    assert not classifier_method("feature").gradient and classifier_method("head").gradient


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(WorkbenchError) as raised:
        generator_method("bitfit")
    message = str(raised.value)
    assert message.startswith("unknown generator method 'bitfit' (known: ")
    assert all(name in message for name in generator_method_names())
    with pytest.raises(WorkbenchError, match=r"unknown classifier method 'svm' \(known: feature, full, head, last-n, lora\)"):
        classifier_method("svm")
    with pytest.raises(RunError, match="'dpo' learns from preference records"):
        supervised_method("dpo")


def test_importing_the_registries_loads_no_torch():
    """`wb --help` builds its method choices from them: they must stay light."""
    code = ("import sys; from workbench.models.methods import generator_methods; "
            "from workbench.training.classifier_methods import classifier_method_names; import workbench.preference; "
            "generator_methods(), classifier_method_names(); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- run files that cannot be read safely ----------------------------------------------------------------


def test_a_damaged_classifier_head_is_named(topics, loop, tmp_path, capsys):
    train, held_out = topics
    run = train_classifier([r.text for r in train], [r.label for r in train],
                           ClassifierOptions(loop=loop(), method="feature", max_length=32), tmp_path / "run")
    (run.path / HEAD_FILE).write_bytes(b"\xff" * 64)  # not safetensors: an impossible header length
    data = tmp_path / "eval.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *((r.text, r.label) for r in held_out)])
    code = main(["eval", "classify", "--model", str(run.path), "--data", str(data), "--output", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"wb: error: {run.path / HEAD_FILE}: " in err and "the file is damaged (rerun the training)" in err


class _Trap:
    """Unpickling this creates the file it names: a pickle runs whatever code it carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickled_adapter_is_refused_unread(tmp_path, capsys):
    adapter, marker = tmp_path / "pickled", tmp_path / "unpickled"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": "smollm2-135m-instruct", "r": 8, "target_modules": ["q_proj"]}))
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_Trap(marker)))
    code = main(["ask", "Where is Normandy?", "--strategy", "finetuned", "--adapter", f"pickled={adapter}",
                 "--max-new-tokens", "4", "--json", "--set", "models.device=cpu"])
    captured = capsys.readouterr()
    assert code != BUG_REPORT_EXIT, captured.err
    assert f"{adapter / 'adapter_model.bin'}: a pickled adapter, which workbench does not load" in captured.out + captured.err
    assert "only safetensors adapters (adapter_model.safetensors) are loaded" in captured.out + captured.err
    assert not marker.exists()
