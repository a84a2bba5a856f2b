"""Every classifier method trains on the same tiny split, saves, reloads and scores what it saved."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

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
from workbench.training.runs import RunDir

METHODS = ["feature", "head", "last-n", "full", "lora"]


def options(loop, method: str, **loop_overrides) -> ClassifierOptions:
    return ClassifierOptions(loop=loop(**loop_overrides), method=method, last_n=1, max_length=48, head_learning_rate=1e-2)


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
def test_decoder_backbone_reads_the_last_token(method, topics, tmp_path, loop):
    """The embedded SmolLM2 as backbone: pooled at the last real token, trained, reloaded, scored."""
    train, held_out = topics
    settings = ClassifierOptions(loop=loop(epochs=2, batch_size=6), method=method, last_n=1, max_length=32,
                                 head_learning_rate=1e-2, backbone="smollm2-135m-instruct")
    run = train_classifier([r.text for r in train], [r.label for r in train], settings, tmp_path / method,
                           eval_texts=[r.text for r in held_out], eval_labels=[r.label for r in held_out])
    history = run.metrics()
    assert history[1]["train_loss"] < history[0]["train_loss"]
    classifier = load_classifier(run.path)
    assert classifier.model.pooling == "last"
    result = evaluate_classifier(run.path, [r.text for r in held_out], [r.label for r in held_out])
    assert result["accuracy"] == pytest.approx(history[-1]["accuracy"])


def test_last_n_saves_only_the_last_blocks(topics, tmp_path, loop):
    train, _ = topics
    run = train_classifier([r.text for r in train], [r.label for r in train], options(loop, "last-n", epochs=1), tmp_path / "run")
    saved = load_file(run.path / BACKBONE_FILE)
    assert saved and all(name.startswith("encoder.layer.5.") for name in saved)  # MiniLM has 6 blocks


@pytest.mark.parametrize("method", ["head", "last-n", "lora"])
def test_frozen_weights_stay_byte_identical(method, topics, tmp_path, loop):
    train, _ = topics
    settings = options(loop, method, epochs=1)
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
