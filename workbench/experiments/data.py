"""An experiment's data, split once: training items (and demonstration pool) on one side, evaluated
items on the other, never the same paragraph on both. QA splits by article; a classification
experiment takes its train and test tables, or splits the demo paragraphs stratified by topic; a
generation or preference experiment takes its train and test records, or splits one file's by record."""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.config import Config
from workbench.config.experiment import DataSpec, ExperimentSpec
from workbench.corpus import (
    DatasetError,
    Document,
    LabeledText,
    QAPair,
    load_demo_corpus,
    load_instructions,
    load_labeled_table,
    load_preferences,
    load_qa,
    load_squad,
    read_records,
)
from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class ExperimentData:
    task: str
    # classification: question = the text, answers = (label,); generation: the prompt, the references;
    # preference: the prompt, (chosen, rejected)
    train: list[QAPair]
    test: list[QAPair]
    documents: list[Document] = field(default_factory=list)  # QA: what retrieval searches
    labels: list[str] = field(default_factory=list)  # classification: the label set, in order
    # QA on your documents: the folder retrieval searches (indexed once, updated when it changes) and a
    # digest of its files
    folder: Path | None = None
    folder_digest: str = ""

    @property
    def fingerprint(self) -> str:
        """Changes whenever any item, document, file or label changes: cached runs are keyed by it."""
        digest = hashlib.sha256()
        for part in (self.train, self.test, self.documents, self.labels, [self.folder_digest]):
            digest.update(json.dumps([repr(x) for x in part]).encode())
        return digest.hexdigest()[:16]


def resolve(path: str) -> Path:
    found = Path(path).expanduser()
    if not found.is_file():
        raise WorkbenchError(f"experiment data: {path}: file not found (paths are relative to the current folder)")
    return found


def load_split(config: Config, spec: ExperimentSpec, eval_items: int | None, train_items: int | None) -> ExperimentData:
    data = SPLITS[spec.task](config, spec)
    rng = random.Random(spec.data.seed)
    test = rng.sample(data.test, eval_items) if eval_items and eval_items < len(data.test) else data.test
    train = rng.sample(data.train, train_items) if train_items and train_items < len(data.train) else data.train
    return replace(data, train=train, test=test)


def _qa_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    if spec.data.questions or spec.data.documents or any(s.learns != "questions" for s in spec.strategies):
        return _own_questions_split(spec.data)
    corpus = load_demo_corpus() if spec.data.source == "demo" else load_squad(resolve(spec.data.source))
    titles = list(dict.fromkeys(p.topic for p in corpus.qa_pairs))
    if len(titles) < 2:
        raise WorkbenchError(f"{spec.data.source}: a QA experiment splits by article and needs two or more, "
                             f"found {len(titles)}")
    random.Random(spec.data.seed).shuffle(titles)
    held_out = set(titles[:max(1, round(spec.data.test_fraction * len(titles)))])
    return ExperimentData("qa", [p for p in corpus.qa_pairs if p.topic not in held_out],
                          [p for p in corpus.qa_pairs if p.topic in held_out], corpus.documents)


def _own_questions_split(data: DataSpec) -> ExperimentData:
    """Questions written from the folder `data.documents`, split by question (the knowledge design: every
    document is learnt from, the test questions are not) or by document (the reading design)."""
    if not (data.documents and data.questions):
        raise WorkbenchError("this experiment runs on your documents: name the folder (experiment.data.documents) "
                             "and the questions written from it (experiment.data.questions, from `wb questions "
                             "generate`), or run `wb study FOLDER`, which fills in both")
    folder = Path(data.documents).expanduser()
    if not folder.exists():
        raise WorkbenchError(f"experiment.data.documents: {folder}: no such file or folder")
    items = load_qa(resolve(data.questions))
    group = (lambda p: p.id) if data.split == "knowledge" else (lambda p: p.doc_id)
    groups = sorted({group(p) for p in items})
    if len(groups) < 2:
        raise WorkbenchError(f"{data.questions}: the {data.split} split needs questions from two or more "
                             f"{'documents' if data.split == 'reading' else 'items'}, found {len(groups)}")
    random.Random(data.seed).shuffle(groups)
    held_out = set(groups[:min(len(groups) - 1, max(1, round(data.test_fraction * len(groups))))])
    return ExperimentData("qa", [p for p in items if group(p) not in held_out], [p for p in items if group(p) in held_out],
                          folder=folder, folder_digest=folder_digest(folder))


def folder_files(folder: Path) -> dict[str, str]:
    """Each file of a folder (or the one file) by its relative path: the hash of its content."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    return {str(p.relative_to(folder) if folder.is_dir() else p.name): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def folder_digest(folder: Path) -> str:
    """Every file's path and content: a study keyed by it reruns what a changed folder changes."""
    digest = hashlib.sha256()
    for name, content in folder_files(folder).items():  # in path order
        digest.update(name.encode())
        digest.update(bytes.fromhex(content))
    return digest.hexdigest()[:16]


def _classification_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    if spec.data.labels:
        train, test = _document_label_split(config, spec.data)
    elif spec.data.source == "demo":  # paragraph -> article title; a paragraph is on one side only
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


def _document_label_split(config: Config, data: DataSpec) -> tuple[list[LabeledText], list[LabeledText]]:
    """Passages of the user's documents labelled by folder or metadata key, whole documents on each side."""
    from workbench.corpus.labels import LabelSource, split_by_document
    from workbench.indexing.passages import document_passages

    if bool(data.documents) == bool(data.index):
        raise WorkbenchError("experiment.data.labels classifies passages of your documents: name them with "
                             "experiment.data.documents (a folder) or experiment.data.index (an index name)")
    paths = [Path(data.documents).expanduser()] if data.documents else []
    found = document_passages(config, paths, data.index)
    split = split_by_document([(p.doc_id, p.text, p.metadata) for p in found.passages], LabelSource.parse(data.labels),
                              data.test_fraction, data.seed)
    return split.train, split.test


def _generation_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    data = spec.data
    if data.train and data.test:
        return ExperimentData("generation", _generation_items(data.train, data), _generation_items(data.test, data))
    if data.source == "demo":
        raise WorkbenchError("a generation experiment names its records: experiment.data.source (split by "
                             "test_fraction), or experiment.data.train and experiment.data.test")
    items = _generation_items(data.source, data)
    random.Random(data.seed).shuffle(items)
    held_out = max(1, round(data.test_fraction * len(items)))
    return ExperimentData("generation", items[held_out:], items[:held_out])


def _generation_items(path: str, data: DataSpec) -> list[QAPair]:
    """Records → items (id, prompt, references): Alpaca records when `data.prompt` is null, else the
    prompt template filled from each record's fields, with the texts of its `data.references` fields."""
    file = resolve(path)
    if data.prompt is None:
        return [QAPair(f"{file.stem}-{n}", r.prompt, (r.output,)) for n, r in enumerate(load_instructions(file))]
    items = []
    for where, record in read_records(file):
        try:
            prompt = data.prompt.format(**record)
        except (KeyError, IndexError) as exc:
            raise DatasetError(file, f"experiment.data.prompt needs the field {exc}, which this record lacks", where) from None
        references = tuple(record[f] for f in data.references if isinstance(record.get(f), str) and record[f].strip())
        if not references:
            raise DatasetError(file, f"no reference text in any of the fields {', '.join(data.references)} "
                               "(experiment.data.references)", where)
        items.append(QAPair(f"{file.stem}-{len(items)}", prompt, references))
    if not items:
        raise DatasetError(file, "no records found")
    return items


def filled_text(template: str | None, prompt: str) -> str:
    """What the record put into `prompt` (the fields' text), without the template's own wording, which
    every item shares; the prompt itself when there is no template or it does not match."""
    if not template:
        return prompt
    pattern = "".join(re.escape(literal) + ("(.*?)" if name is not None else "")
                      for literal, name, _, _ in string.Formatter().parse(template))
    match = re.fullmatch(pattern, prompt, flags=re.DOTALL)
    return "\n".join(match.groups()) if match and match.groups() else prompt


def _preference_split(config: Config, spec: ExperimentSpec) -> ExperimentData:
    data = spec.data

    def items(path: str) -> list[QAPair]:
        file = resolve(path)
        return [QAPair(f"{file.stem}-{n}", r.prompt, (r.chosen, r.rejected)) for n, r in enumerate(load_preferences(file))]

    if data.train and data.test:
        return ExperimentData("preference", items(data.train), items(data.test))
    if data.source == "demo":
        raise WorkbenchError("a preference experiment names its records (prompt, chosen, rejected): "
                             "experiment.data.source, or experiment.data.train and experiment.data.test")
    records = items(data.source)
    random.Random(data.seed).shuffle(records)
    held_out = max(1, round(data.test_fraction * len(records)))
    return ExperimentData("preference", records[held_out:], records[:held_out])


SPLITS = {"qa": _qa_split, "classification": _classification_split, "generation": _generation_split,
          "preference": _preference_split}


def as_rows(pairs: list[QAPair]) -> list[LabeledText]:
    return [LabeledText(p.question, p.answers[0]) for p in pairs]
