"""Corpora and datasets: the record types, the loaders for users' formats, the bundled demo corpus."""

from workbench.corpus.demo import DEMO_CORPUS_PATH, load_demo_corpus
from workbench.corpus.loaders import (
    DatasetError,
    load_instructions,
    load_labeled_table,
    load_preferences,
    load_qa,
    load_qa_records,
    load_squad,
    read_records,
)
from workbench.corpus.records import (
    Corpus,
    Document,
    InstructionExample,
    LabeledText,
    PreferenceExample,
    QAPair,
)

__all__ = [
    "DEMO_CORPUS_PATH",
    "Corpus",
    "DatasetError",
    "Document",
    "InstructionExample",
    "LabeledText",
    "PreferenceExample",
    "QAPair",
    "load_demo_corpus",
    "load_instructions",
    "load_labeled_table",
    "load_preferences",
    "load_qa",
    "load_qa_records",
    "load_squad",
    "read_records",
]
