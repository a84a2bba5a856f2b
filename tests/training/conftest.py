"""Tiny data for the classifier tests (the QA examples, `qa`, are in tests/conftest.py): every run is a few
optimizer steps on short texts."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def topics(demo_corpus):
    """(train, eval) lists of LabeledText: 3 article topics, 12 + 4 paragraphs each."""
    by_topic: dict[str, list] = {}
    for row in demo_corpus.labeled_documents():
        by_topic.setdefault(row.label, []).append(row)
    chosen = sorted(by_topic)[:3]
    return [r for t in chosen for r in by_topic[t][:12]], [r for t in chosen for r in by_topic[t][12:16]]
