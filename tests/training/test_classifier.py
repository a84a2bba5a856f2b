"""Every classifier method trains on the same tiny split, saves, reloads and scores what it saved (on the real
MiniLM: each must beat chance); what is saved and what stays frozen, on the tiny random encoder and generator
of tests/conftest.py."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from workbench.runfolder import RunDir
from workbench.training.classifier import (
    BACKBONE_FILE,
    ClassifierOptions,
    build_classifier,
    evaluate_classifier,
    load_classifier,
    train_classifier,
)
from workbench.training.data import pad_batch
from workbench.training.loop import fit

METHODS = ["feature", "head", "last-n", "full", "lora"]


def options(loop, method: str, backbone: str = "minilm", **loop_overrides) -> ClassifierOptions:
    return ClassifierOptions(loop=loop(**loop_overrides), method=method, last_n=1, max_length=48, head_learning_rate=1e-2,
                             backbone=backbone)


@pytest.mark.parametrize("method", METHODS)
def test_method_trains_saves_reloads_and_evaluates(method, topics, tmp_path, loop):
    train, held_out = topics
    run = train_classifier([r.text for r in train], [r.label for r in train], options(loop, method), tmp_path / method,
                           eval_texts=[r.text for r in held_out], eval_labels=[r.label for r in held_out])
    history, summary = run.metrics(), run.summary()
    assert run.is_complete() and not run.checkpoints.exists()
    if method != "feature":
        assert [h["epoch"] for h in history] == [1, 2]
        assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["accuracy"] > 1 / 3  # better than chance on 3 balanced topics
    assert summary["truncated_train_texts"] > 0  # demo paragraphs exceed 48 tokens, and it is reported
    assert 0 < summary["trainable_params"] <= summary["total_params"]
    assert (summary["trainable_params"] == summary["total_params"]) == (method == "full")

    # what was saved reproduces the last epoch's held-out scores
    result = evaluate_classifier(run.path, [r.text for r in held_out], [r.label for r in held_out])
    assert result["accuracy"] == pytest.approx(history[-1]["accuracy"])
    assert result["macro_f1"] == pytest.approx(history[-1]["macro_f1"])
    assert sum(map(sum, result["confusion"]["rows_gold_columns_predicted"])) == len(held_out)


@pytest.mark.parametrize("method", ["lora", "last-n"])
def test_decoder_backbone_reads_the_last_token(method, topics, tmp_path, loop, tiny_generator):
    """A causal LM as backbone (the tiny random generator, SmolLM2's architecture): pooled at the last real
    token, trained, reloaded, scored the same."""
    train, held_out = topics
    settings = ClassifierOptions(loop=loop(epochs=2, batch_size=6), method=method, last_n=1, max_length=32,
                                 head_learning_rate=1e-2, backbone=tiny_generator)
    run = train_classifier([r.text for r in train], [r.label for r in train], settings, tmp_path / method,
                           eval_texts=[r.text for r in held_out], eval_labels=[r.label for r in held_out])
    history = run.metrics()
    assert history[1]["train_loss"] < history[0]["train_loss"]
    classifier = load_classifier(run.path)
    assert classifier.model.pooling == "last"
    result = evaluate_classifier(run.path, [r.text for r in held_out], [r.label for r in held_out])
    assert result["accuracy"] == pytest.approx(history[-1]["accuracy"])


def test_the_embedded_generator_is_a_decoder_backbone():
    """`--backbone smollm2-135m-instruct` loads the converted embedded model, read at the last token."""
    from workbench.models import GENERATOR
    from workbench.training.backbones import load_backbone

    backbone = load_backbone(GENERATOR)
    assert (backbone.pooling, backbone.hidden_size, backbone.tokenizer.pad_token) == ("last", 576, "<|im_end|>")


def test_last_n_saves_only_the_last_blocks(topics, tmp_path, loop, tiny_encoder):
    train, _ = topics
    run = train_classifier([r.text for r in train], [r.label for r in train],
                           options(loop, "last-n", tiny_encoder, epochs=1), tmp_path / "run")
    saved = load_file(run.path / BACKBONE_FILE)
    assert saved and all(name.startswith("encoder.layer.1.") for name in saved)  # the tiny encoder has 2 blocks


@pytest.mark.parametrize("method", ["head", "last-n", "lora"])
def test_frozen_weights_stay_byte_identical(method, topics, tmp_path, loop, tiny_encoder):
    train, _ = topics
    settings = options(loop, method, tiny_encoder, epochs=1)
    model, backbone = build_classifier(settings, n_classes=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    classes = sorted({r.label for r in train})
    encoded = backbone.tokenizer([r.text for r in train], truncation=True, max_length=48)["input_ids"]
    dataset = [{"input_ids": ids, "label": classes.index(r.label)} for ids, r in zip(encoded, train)]

    def collate(batch):
        padded = pad_batch([{"input_ids": e["input_ids"]} for e in batch], backbone.tokenizer.pad_token_id)
        return {**padded, "labels": torch.tensor([e["label"] for e in batch])}

    fit(model, [{"params": [p for p in model.parameters() if p.requires_grad]}], dataset, collate,
        [len(e["input_ids"]) for e in dataset], settings.loop, RunDir(tmp_path), lambda m: {"eval_loss": 0.0})
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed and changed <= trainable
    frozen = set(before) & {n for n, _ in model.named_parameters()} - trainable
    assert frozen and not (frozen & changed)


def test_reloaded_classifier_predicts_known_classes(topics, tmp_path, loop):
    train, held_out = topics
    run = train_classifier([r.text for r in train], [r.label for r in train], options(loop, "feature"), tmp_path / "run")
    predicted = load_classifier(run.path).predict([r.text for r in held_out])
    assert set(predicted) <= {r.label for r in train}
