"""Split documents into chunks with langchain-text-splitters, keeping each chunk's character offsets.

Three splitters: `recursive` (characters; paragraphs, then lines, sentences, words), `token` (the same
recursion but measured in the embedder's own tokens, capped at its window so nothing is truncated
silently) and `markdown` (never crosses a header; each chunk records its section path).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from workbench.corpus import Document
from workbench.indexing.embedding import embedder_tokenizer, embedder_window
from workbench.indexing.errors import IndexBuildError

log = logging.getLogger(__name__)

SPLITTERS = ("recursive", "token", "markdown")
_SPECIAL_TOKENS = 2  # [CLS] and [SEP] take two places in the embedder's window
_HEADER = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: `text == document.text[start:end]`; metadata is the document's plus extras."""

    doc_id: str
    text: str
    start: int
    end: int
    metadata: dict = field(default_factory=dict)


def chunk_documents(documents: Iterable[Document], splitter: str = "recursive", chunk_size: int = 800,
                    chunk_overlap: int = 100, embedder: str = "minilm") -> list[Chunk]:
    """Chunks of every document, in document order. `chunk_size` counts characters, or tokens for `token`."""
    split = _make_splitter(splitter, chunk_size, chunk_overlap, embedder)
    chunks = []
    for doc in documents:
        for start, text, extra in split(doc.text):
            chunks.append(Chunk(doc.id, text, start, start + len(text), {**doc.metadata, **extra}))
    return chunks


Split = Callable[[str], Iterator[tuple[int, str, dict]]]


def _make_splitter(splitter: str, chunk_size: int, chunk_overlap: int, embedder: str) -> Split:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if splitter not in SPLITTERS:
        raise IndexBuildError(f"unknown splitter '{splitter}' (choose one of: {', '.join(SPLITTERS)})")
    if splitter == "token":
        window = embedder_window(embedder) - _SPECIAL_TOKENS
        if chunk_size > window:
            log.warning("chunk size %d tokens exceeds the embedder's %d-token window: using %d",
                        chunk_size, window + _SPECIAL_TOKENS, window)
            chunk_size = window
    if chunk_overlap >= chunk_size:
        raise IndexBuildError(f"chunk overlap ({chunk_overlap}) must be smaller than the chunk size ({chunk_size})")
    if splitter == "token":
        text_splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            embedder_tokenizer(embedder), chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    else:
        text_splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    # Consecutive character chunks share at most `chunk_overlap` characters; token overlaps have no
    # such character bound, so there the next chunk is only known to start after the previous start.
    max_overlap = None if splitter == "token" else chunk_overlap

    def split_plain(text: str) -> Iterator[tuple[int, str, dict]]:
        for start, piece in _with_offsets(text_splitter.split_text(text), text, max_overlap):
            yield start, piece, {}

    def split_markdown(text: str) -> Iterator[tuple[int, str, dict]]:
        for section_start, section_text, section in _markdown_sections(text):
            for start, piece in _with_offsets(text_splitter.split_text(section_text), section_text, max_overlap):
                yield section_start + start, piece, {"section": section} if section else {}

    return split_markdown if splitter == "markdown" else split_plain


def _with_offsets(pieces: list[str], text: str, max_overlap: int | None) -> Iterator[tuple[int, str]]:
    """Where each piece starts in `text`: pieces come in order, each after the previous one's start and
    (when `max_overlap` is known) no earlier than `max_overlap` characters before its end."""
    cursor = 0
    for piece in pieces:
        start = text.find(piece, cursor)
        if start < 0:  # the splitter only strips whitespace, so every piece is a substring
            raise AssertionError(f"chunk not found in its document: {piece[:60]!r}")
        end = start + len(piece)
        cursor = start + 1 if max_overlap is None else max(start + 1, end - max_overlap)
        yield start, piece


def _markdown_sections(text: str) -> Iterator[tuple[int, str, str]]:
    """(start, text, 'H1 > H2 > ...') for each run of lines under one header; fenced code is not parsed."""
    headers: list[str] = []
    section_start, section_path, offset, in_fence = 0, "", 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADER.match(line.rstrip("\r\n"))
        if match and offset > section_start:
            yield section_start, text[section_start:offset], section_path
        if match:
            level = len(match.group(1))
            headers = headers[:level - 1] + [""] * max(0, level - 1 - len(headers)) + [match.group(2)]
            section_start, section_path = offset, " > ".join(h for h in headers if h)
        offset += len(line)
    if text[section_start:].strip():
        yield section_start, text[section_start:], section_path
