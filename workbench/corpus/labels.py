"""Classification labels that a user's documents already carry: the folder a file sits in
(`folder`: reports/ and contracts/ are two classes) or a metadata key of its records (`metadata:KEY`),
and a split by document, so that no document is both trained on and tested.

What is classified is a passage (a chunk) of a document, labelled with its document's label: documents
are too long for a classifier's window, and a chunk is what a user would ask about."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from workbench.corpus.records import LabeledText
from workbench.errors import WorkbenchError

LABEL_SOURCES = "folder, or metadata:KEY"


class LabelError(WorkbenchError):
    pass


@dataclass(frozen=True)
class LabelSource:
    """`folder`: a document's label is the first folder of its path inside the folder given;
    `metadata:KEY`: the value of KEY in its metadata (a JSON field or a CSV column)."""

    kind: str
    key: str | None = None

    @classmethod
    def parse(cls, text: str) -> LabelSource:
        if text == "folder":
            return cls("folder")
        kind, _, key = text.partition(":")
        if kind == "metadata" and key.strip():
            return cls("metadata", key.strip())
        raise LabelError(f"--labels {text}: give {LABEL_SOURCES}")

    def label(self, doc_id: str, metadata: dict) -> str | None:
        if self.kind == "folder":
            parts = doc_id.split("#")[0].split("/")
            return parts[0] if len(parts) > 1 else None
        value = metadata.get(self.key)
        return None if value is None or isinstance(value, (dict, list)) or str(value).strip() == "" else str(value).strip()

    def __str__(self) -> str:
        return "folder" if self.kind == "folder" else f"metadata:{self.key}"


@dataclass
class DocumentSplit:
    """Labelled passages, split by document; which documents went where, and which carried no label."""

    train: list[LabeledText]
    test: list[LabeledText]
    test_documents: list[str]
    unlabelled: list[str] = field(default_factory=list)  # document ids without a label, left out

    def describe(self) -> str:
        classes = sorted({row.label for row in self.train})
        left_out = f"; {len(self.unlabelled)} document(s) without a label left out" if self.unlabelled else ""
        return (f"{len(classes)} classes ({', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''}), "
                f"{len(self.train)} training and {len(self.test)} test passages, {len(self.test_documents)} test "
                f"document(s){left_out}")


def split_by_document(passages: Sequence[tuple[str, str, dict]], source: LabelSource, test_fraction: float,
                      seed: int) -> DocumentSplit:
    """(doc id, text, metadata) passages labelled by `source`; a seeded `test_fraction` of each label's
    documents is held out (at least one when the label has two documents or more), all their passages
    with them."""
    labels: dict[str, str] = {}
    unlabelled: list[str] = []
    for doc_id, _, metadata in passages:
        if doc_id in labels or doc_id in unlabelled:
            continue
        label = source.label(doc_id, metadata)
        if label is None:
            unlabelled.append(doc_id)
        else:
            labels[doc_id] = label
    if len(set(labels.values())) < 2:
        found = sorted(set(labels.values()))
        hint = ("put the files in one subfolder per class" if source.kind == "folder"
                else f"give the documents a '{source.key}' field")
        raise LabelError(f"labels from {source}: {len(found)} class(es) found ({', '.join(found) or 'none'}); "
                         f"classification needs two or more: {hint}")
    by_label: dict[str, list[str]] = {}
    for doc_id, label in labels.items():
        by_label.setdefault(label, []).append(doc_id)
    rng = random.Random(seed)
    held_out: set[str] = set()
    for label in sorted(by_label):
        documents = sorted(by_label[label])
        rng.shuffle(documents)
        if len(documents) > 1:
            held_out.update(documents[:max(1, round(test_fraction * len(documents)))])
    if not held_out:
        raise LabelError(f"labels from {source}: every class has a single document, so none can be held out for "
                         "testing without leaving its class untrained; add documents")
    train = [LabeledText(text, labels[doc_id]) for doc_id, text, _ in passages if doc_id in labels and doc_id not in held_out]
    test = [LabeledText(text, labels[doc_id]) for doc_id, text, _ in passages if doc_id in held_out]
    return DocumentSplit(train, test, sorted(held_out), unlabelled)
