"""An experiment's data, split once: training items (and demonstration pool) on one side, evaluated
items on the other, never the same paragraph on both. QA splits by article; a classification
experiment takes its train and test tables, or splits the demo paragraphs stratified by topic."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from workbench.config import Config
from workbench.corpus import Document, LabeledText, QAPair, load_demo_corpus, load_labeled_table, load_squad
from workbench.errors import WorkbenchError
from workbench.experiments.spec import ExperimentSpec


@dataclass(frozen=True)
class ExperimentData:
    task: str
    train: list[QAPair]  # classification rows too: question = the text, answers = (label,)
    test: list[QAPair]
    documents: list[Document] = field(default_factory=list)  # QA: what retrieval searches
    labels: list[str] = field(default_factory=list)  # classification: the label set, in order

    @property
    def fingerprint(self) -> str:
        """Changes whenever any item, document or label changes: cached runs are keyed by it."""
        digest = hashlib.sha256()
        for part in (self.train, self.test, self.documents, self.labels):
            digest.update(json.dumps([repr(x) for x in part]).encode())
        return digest.hexdigest()[:16]


def resolve(path: str) -> Path:
    found = Path(path).expanduser()
    if not found.is_file():
        raise WorkbenchError(f"experiment data: {path}: file not found (paths are relative to the current folder)")
    return found


def load_split(config: Config, spec: ExperimentSpec, eval_items: int | None, train_items: int | None) -> ExperimentData:
    loader = _qa_split if spec.task == "qa" else _classification_split
    data = loader(config, spec)
    rng = random.Random(spec.data.seed)
    test = rng.sample(data.test, eval_items) if eval_items and eval_items < len(data.test) else data.test
    train = rng.sample(data.train, train_items) if train_items and train_items < len(data.train) else data.train
    return ExperimentData(data.task, train, test, data.documents, data.labels)


def _qa_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    corpus = load_demo_corpus() if spec.data.source == "demo" else load_squad(resolve(spec.data.source))
    titles = list(dict.fromkeys(p.topic for p in corpus.qa_pairs))
    if len(titles) < 2:
        raise WorkbenchError(f"{spec.data.source}: a QA experiment splits by article and needs two or more, "
                             f"found {len(titles)}")
    random.Random(spec.data.seed).shuffle(titles)
    held_out = set(titles[:max(1, round(spec.data.test_fraction * len(titles)))])
    return ExperimentData("qa", [p for p in corpus.qa_pairs if p.topic not in held_out],
                          [p for p in corpus.qa_pairs if p.topic in held_out], corpus.documents)


def _classification_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    if spec.data.source == "demo":  # paragraph -> article title; a paragraph is on one side only
        from sklearn.model_selection import train_test_split

        # article titles as words ("Super_Bowl_50" -> "Super Bowl 50"): the generator scores them as text
        rows = [LabeledText(r.text, r.label.replace("_", " ")) for r in load_demo_corpus().labeled_documents()]
        train, test = train_test_split(rows, test_size=spec.data.test_fraction, random_state=spec.data.seed,
                                       stratify=[r.label for r in rows])
    else:
        if not (spec.data.train and spec.data.test):
            raise WorkbenchError("a classification experiment on your data names experiment.data.train and "
                                 "experiment.data.test (labelled tables)")
        columns = (config.data.text_column, config.data.label_column)
        train = load_labeled_table(resolve(spec.data.train), *columns)
        test = load_labeled_table(resolve(spec.data.test), *columns)
    names = spec.data.label_names
    pairs = {side: [QAPair(f"{side}-{i}", r.text, (names.get(r.label, r.label),)) for i, r in enumerate(rows)]
             for side, rows in (("train", train), ("test", test))}
    labels = sorted({p.answers[0] for p in pairs["train"]})
    unseen = sorted({p.answers[0] for p in pairs["test"]} - set(labels))
    if unseen:
        raise WorkbenchError(f"test labels never seen in training: {', '.join(unseen)}")
    return ExperimentData("classification", pairs["train"], pairs["test"], labels=labels)


def as_rows(pairs: list[QAPair]) -> list[LabeledText]:
    return [LabeledText(p.question, p.answers[0]) for p in pairs]
