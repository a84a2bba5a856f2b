"""Chunk offsets, the token splitter's cap at the embedder's window, markdown sections."""

from __future__ import annotations

import logging

import pytest

from workbench.corpus import Document
from workbench.indexing import IndexBuildError, chunk_documents

MARKDOWN = ("# Guide\nIntro paragraph.\n\n## Install\n" + "Install the package with pip. " * 20
            + "\n\n```bash\n# a comment, not a header\n```\n\n## Usage\nCall the search command.\n")


@pytest.mark.parametrize("splitter, size", [("recursive", 120), ("token", 30), ("markdown", 120)])
def test_chunks_are_exact_slices_of_their_document(splitter, size):
    doc = Document("guide", MARKDOWN, {"source": "guide.md"})
    chunks = chunk_documents([doc], splitter, size, 10)
    assert len(chunks) > 3
    for chunk in chunks:
        assert MARKDOWN[chunk.start:chunk.end] == chunk.text
        assert chunk.doc_id == "guide" and chunk.metadata["source"] == "guide.md"
    assert chunks[-1].end == len(MARKDOWN.rstrip())


def test_markdown_chunks_stay_inside_one_section():
    chunks = chunk_documents([Document("g", MARKDOWN)], "markdown", 500, 50)
    sections = [(c.metadata.get("section"), c.text.splitlines()[0]) for c in chunks]
    assert sections[0] == ("Guide", "# Guide")
    assert ("Guide > Usage", "## Usage") in sections
    assert all("## Usage" not in c.text for c in chunks if c.metadata["section"] == "Guide > Install")
    assert any("# a comment" in c.text and c.metadata["section"] == "Guide > Install" for c in chunks)


def test_token_chunks_never_exceed_the_embedder_window(embedder, caplog):
    long_text = " ".join(f"word{i} is here." for i in range(600))
    with caplog.at_level(logging.WARNING):
        chunks = chunk_documents([Document("long", long_text)], "token", 800, 20)
    assert "exceeds the embedder's 256-token window" in caplog.text
    lengths = [len(embedder.tokenizer(c.text)["input_ids"]) for c in chunks]
    assert max(lengths) <= 256 and max(lengths) > 200


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(IndexBuildError, match="overlap"):
        chunk_documents([Document("d", "text")], "recursive", 100, 100)
