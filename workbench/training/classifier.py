"""Text classification by five methods on one backbone, from cheapest to most thorough:

- feature: frozen backbone, embeddings computed once, logistic regression (scikit-learn) on top;
- head:    frozen backbone, a new linear head trained by gradient descent;
- last-n:  the head and the last N transformer blocks trained;
- full:    every parameter trained;
- lora:    LoRA adapters (peft) in the backbone, and the head, trained.

Every method yields the same model shape, backbone → pooling → linear head, so prediction and
evaluation are one code path. A run saves only what it changed: `head.safetensors`, plus
`backbone.safetensors` (last-n, full: the trained backbone tensors) or `adapter/` (lora, peft format).
Each method is an entry of `workbench.training.classifier_methods`: what trains, saves and loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from workbench.config import Config, default_setting
from workbench.evaluation.metrics import accuracy, macro_f1, per_class_scores
from workbench.models.lora import LoraSettings
from workbench.progress import ProgressCallback
from workbench.runfolder import RunDir, RunError, damaged, folder_size
from workbench.training.backbones import Backbone, load_backbone, pool
from workbench.training.classifier_methods import classifier_method
from workbench.training.data import Truncation, pad_batch
from workbench.training.distributed import shared_run
from workbench.training.features import cached_embeddings, fit_logistic_regression
from workbench.training.loop import LoopSettings, Progress, fit
from workbench.training.runs import ResourceMeter, parameter_counts

HEAD_FILE, BACKBONE_FILE, ADAPTER_DIR = "head.safetensors", "backbone.safetensors", "adapter"


class ClassifierDataError(RunError):
    pass


@dataclass(frozen=True)
class ClassifierOptions:
    loop: LoopSettings
    method: str = default_setting("training.classifier.method")
    backbone: str = default_setting("training.classifier.backbone")
    last_n: int = default_setting("training.classifier.last_n")
    max_length: int = default_setting("training.classifier.max_length")
    head_learning_rate: float = default_setting("training.classifier.head_learning_rate")  # a fresh head learns faster than a pretrained backbone may move
    lora: LoraSettings = field(default_factory=LoraSettings)

    @classmethod
    def from_config(cls, config: Config) -> ClassifierOptions:
        """Every setting from `training.classifier` (and `training.lora`, `training.*` for the loop)."""
        section = config.training.classifier
        return cls(loop=LoopSettings.from_config(config, section), method=section.method, backbone=section.backbone,
                   last_n=section.last_n, max_length=section.max_length,
                   head_learning_rate=section.head_learning_rate, lora=LoraSettings.from_config(config))


class TextClassifier(nn.Module):
    """backbone → pooled text vector → linear head over the classes."""

    def __init__(self, backbone: Backbone, n_classes: int):
        super().__init__()
        self.backbone = backbone.model
        self.pooling = backbone.pooling
        self.head = nn.Linear(backbone.hidden_size, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.head(pool(hidden, attention_mask, self.pooling))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def configure_method(model: TextClassifier, options: ClassifierOptions) -> None:
    """Choose what trains: the head always, and what the method adds (last N blocks, everything, LoRA adapters)."""
    method = classifier_method(options.method)
    model.backbone.requires_grad_(False)
    method.configure(model, options)
    model.head.requires_grad_(True)


def build_classifier(options: ClassifierOptions, n_classes: int) -> tuple[TextClassifier, Backbone]:
    """A fresh backbone with a seeded new head, configured for `options.method`."""
    backbone = load_backbone(options.backbone)
    torch.manual_seed(options.loop.seed)
    model = TextClassifier(backbone, n_classes)
    configure_method(model, options)
    return model, backbone


# ---- data -------------------------------------------------------------------------------------------


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[list[dict[str, list[int]]], Truncation]:
    """Token ids cut to `max_length`, and how many texts were cut (reported, never silent)."""
    full = tokenizer(list(texts), truncation=False)["input_ids"]
    cut = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    report = Truncation(truncated=sum(len(a) > max_length for a in full), total=len(texts))
    return [{"input_ids": ids} for ids in cut], report


def check_labels(train_labels: Sequence[str], eval_labels: Sequence[str] | None, batch_size: int | None,
                 source: str) -> list[str]:
    """The sorted classes, after refusing data no classifier can learn from."""
    classes = sorted(set(train_labels))
    if len(classes) < 2:
        raise ClassifierDataError(f"{source}: the label column has a single class ({classes[0]!r}); "
                                  "a classifier needs at least two")
    if batch_size is not None and len(train_labels) < batch_size:
        raise ClassifierDataError(f"{source}: {len(train_labels)} training examples, fewer than the batch size "
                                  f"{batch_size}; lower --batch-size")
    unseen = sorted(set(eval_labels or []) - set(classes))
    if unseen:
        raise ClassifierDataError(f"evaluation labels never seen in training: {', '.join(map(repr, unseen))} "
                                  f"(training classes: {', '.join(map(repr, classes))})")
    return classes


def split_holdout(texts: Sequence[str], labels: Sequence[str], seed: int,
                  share: float = 0.1) -> tuple[list[int], list[int]]:
    """Indices of a seeded train/eval split, stratified by label when every class has two examples."""
    from sklearn.model_selection import train_test_split

    n_eval = max(len(set(labels)), round(share * len(texts)))
    indices = list(range(len(texts)))
    try:
        return train_test_split(indices, test_size=n_eval, random_state=seed, stratify=labels)
    except ValueError:
        return train_test_split(indices, test_size=n_eval, random_state=seed)


# ---- training ---------------------------------------------------------------------------------------


def train_classifier(texts: Sequence[str], labels: Sequence[str], options: ClassifierOptions, output: Path,
                     eval_texts: Sequence[str] | None = None, eval_labels: Sequence[str] | None = None,
                     source: str = "training data", resume: bool = False,
                     progress: ProgressCallback | None = None) -> RunDir:
    """Train a classifier into the run folder `output`; returns the finished run. `progress` hears
    of the embedding (feature) or of every training step."""
    options.loop.refuse_sharding("classifier")
    method = classifier_method(options.method)
    batch = options.loop.batch_size if method.gradient else None
    if eval_texts is None:
        n_classes = len(set(labels))
        if len(texts) < 2 * n_classes:
            raise ClassifierDataError(f"{source}: {len(texts)} examples for {n_classes} classes, too few to hold out an "
                                      "evaluation split (need two per class); add examples or pass --eval-data")
        train_ids, eval_ids = split_holdout(texts, labels, options.loop.seed)
        eval_texts, eval_labels = [texts[i] for i in eval_ids], [labels[i] for i in eval_ids]
        texts, labels = [texts[i] for i in train_ids], [labels[i] for i in train_ids]
    classes = check_labels(labels, eval_labels, batch, source)
    config = {"kind": "classifier", "source": source, "classes": classes, "train_examples": len(texts),
              "eval_examples": len(eval_texts), "options": asdict(options)}
    with shared_run(output, config, resume, options.loop.device) as run:
        with ResourceMeter() as meter:
            model, backbone = build_classifier(options, len(classes))
            train_encoded, truncation = encode_texts(backbone.tokenizer, texts, options.max_length)
            eval_encoded, eval_truncation = encode_texts(backbone.tokenizer, eval_texts, options.max_length)
            truncation.warn("training texts", options.max_length)
            eval_truncation.warn("evaluation texts", options.max_length)
            train_targets = [classes.index(label) for label in labels]
            eval_targets = [classes.index(label) for label in eval_labels]
            if method.gradient:
                state = _fit_gradient(model, backbone, options, run, train_encoded, train_targets,
                                      eval_encoded, eval_targets, classes, resume, progress)
            else:
                state = _fit_feature(model, backbone, options, run, texts, train_encoded, train_targets,
                                     eval_texts, eval_encoded, eval_targets, classes, progress)
            saved = _save_trained(model, options.method, run.path) if run.writer else 0

        summary = {
            "kind": "classifier", "method": options.method, "backbone": options.backbone,
            **parameter_counts(model), "saved_bytes": saved, **meter.report(),
            "train_seconds": round(state.train_seconds, 2),
            "examples_per_second": round(state.examples / state.train_seconds, 1) if state.train_seconds else None,
            "tokens_per_second": round(state.tokens / state.train_seconds, 1) if state.train_seconds else None,
            "steps": state.global_step, "epochs": len(state.history),
            "truncated_train_texts": truncation.truncated, "truncated_eval_texts": eval_truncation.truncated,
            "final": state.history[-1],
        }
        run.finish(summary)
    return run


def _fit_gradient(model: TextClassifier, backbone: Backbone, options: ClassifierOptions, run: RunDir,
                  train_encoded: list[dict], train_targets: list[int], eval_encoded: list[dict],
                  eval_targets: list[int], classes: list[str], resume: bool,
                  progress: ProgressCallback | None) -> Progress:
    dataset = [{**e, "label": t} for e, t in zip(train_encoded, train_targets)]
    pad_id = backbone.tokenizer.pad_token_id

    def collate(examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad_batch([{"input_ids": e["input_ids"]} for e in examples], pad_id)
        return {**batch, "labels": torch.tensor([e["label"] for e in examples])}

    def evaluate(trained: nn.Module) -> dict[str, float]:
        logits = predict_logits(trained, eval_encoded, pad_id, options.loop.batch_size)
        return _scores(logits, eval_targets, classes)

    head = list(model.head.parameters())
    body = [p for p in model.backbone.parameters() if p.requires_grad]
    groups = [{"params": head, "lr": options.head_learning_rate}] + ([{"params": body}] if body else [])
    return fit(model, groups, dataset, collate, [len(e["input_ids"]) for e in train_encoded], options.loop,
               run, evaluate, resume=resume, progress_callback=progress)


def _fit_feature(model: TextClassifier, backbone: Backbone, options: ClassifierOptions, run: RunDir,
                 texts: Sequence[str], train_encoded: list[dict], train_targets: list[int],
                 eval_texts: Sequence[str], eval_encoded: list[dict], eval_targets: list[int],
                 classes: list[str], progress: ProgressCallback | None) -> Progress:
    """Embed once (cached), fit the regression, install it as the head: one 'epoch' of metrics."""
    import time

    started = time.perf_counter()
    train_features = cached_embeddings(backbone, options.max_length, texts, train_encoded, progress)
    eval_features = cached_embeddings(backbone, options.max_length, eval_texts, eval_encoded, progress)
    weight, bias = fit_logistic_regression(train_features, train_targets, len(classes), options.loop.seed)
    with torch.no_grad():
        model.head.weight.copy_(weight)
        model.head.bias.copy_(bias)
        train_loss = nn.functional.cross_entropy(model.head(train_features), torch.tensor(train_targets)).item()
        scores = _scores(model.head(eval_features), eval_targets, classes)
    progress = Progress(epoch=1, global_step=1, examples=len(texts), tokens=sum(len(e["input_ids"]) for e in train_encoded),
                        train_seconds=time.perf_counter() - started,
                        history=[{"epoch": 1, "step": 1, "train_loss": train_loss, **scores}])
    run.write_metrics(progress.history)
    return progress


def _scores(logits: torch.Tensor, targets: list[int], classes: list[str]) -> dict[str, float]:
    loss = nn.functional.cross_entropy(logits, torch.tensor(targets)).item()
    predicted = [classes[i] for i in logits.argmax(-1).tolist()]
    gold = [classes[i] for i in targets]
    return {"eval_loss": loss, "accuracy": accuracy(predicted, gold), "macro_f1": macro_f1(predicted, gold)}


@torch.no_grad()
def predict_logits(model: nn.Module, encoded: Sequence[dict[str, list[int]]], pad_id: int,
                   batch_size: int = 64) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(encoded), batch_size):
        batch = pad_batch(encoded[start:start + batch_size], pad_id)
        chunks.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())
    return torch.cat(chunks)


def _save_trained(model: TextClassifier, method: str, folder: Path) -> int:
    """Save what the method changed: the head, and what the method trained beside it; returns its size on disk in bytes."""
    save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, folder / HEAD_FILE)
    paths = [folder / HEAD_FILE, *classifier_method(method).save(model, folder)]
    return sum(folder_size(p) for p in paths)


def read_run_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one of a run's safetensors files; a damaged file is a `RunError` naming it."""
    try:
        return load_file(path)
    except SafetensorError as exc:
        raise damaged(path, exc) from None


# ---- using a trained classifier ---------------------------------------------------------------------


@dataclass
class TrainedClassifier:
    model: TextClassifier
    tokenizer: Any
    classes: list[str]
    max_length: int

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        encoded, truncation = encode_texts(self.tokenizer, texts, self.max_length)
        truncation.warn("texts", self.max_length)
        logits = predict_logits(self.model, encoded, self.tokenizer.pad_token_id, batch_size)
        return [self.classes[i] for i in logits.argmax(-1).tolist()]


def load_classifier(path: Path) -> TrainedClassifier:
    """The classifier of a finished run folder."""
    run = RunDir.open(path)
    config = run.config()
    if config.kind != "classifier" or not config.classes or config.options.backbone is None:
        raise RunError(f"{path}: a {config.kind} run, not a classifier")
    options = config.options
    method = classifier_method(options.method)
    backbone = load_backbone(options.backbone)
    model = TextClassifier(backbone, len(config.classes))
    method.load(model, run.path, options)
    model.head.load_state_dict(read_run_tensors(run.path / HEAD_FILE))
    model.eval()
    return TrainedClassifier(model, backbone.tokenizer, config.classes, options.max_length)


def evaluate_classifier(path: Path, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores and the confusion matrix of a run on labelled texts."""
    classifier = load_classifier(path)
    check_labels(classifier.classes, labels, None, str(path))
    predicted = classifier.predict(texts)
    classes = classifier.classes
    matrix = [[0] * len(classes) for _ in classes]
    for gold, guess in zip(labels, predicted):
        matrix[classes.index(gold)][classes.index(guess)] += 1
    return {"examples": len(labels), "accuracy": accuracy(predicted, labels), "macro_f1": macro_f1(predicted, labels),
            "per_class": per_class_scores(predicted, labels),
            "confusion": {"labels": classes, "rows_gold_columns_predicted": matrix}, "predicted": predicted}
