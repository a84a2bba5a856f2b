"""Candidate answers in a chunk, for writing questions answer-first: the spans a reader of a manual or a
report asks about (identifiers, numbers with their units, dates, names, quoted terms, table cells).

An answer picked from the text occurs in it verbatim by construction, so a small model only has to
write the question (how far the result can be trusted is measured in bench/results/questions.md).
Spans are found with patterns, not a tagger, so that this runs offline on any language the documents
use; what they miss (ordinary noun phrases) is said in docs/own-documents.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Kinds in order of preference: what a question can only be answered by reading the text.
KINDS = ("identifier", "date", "number", "name", "term", "cell", "phrase")

_MONTHS = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_UNITS = (r"(?:%|percent|bits?|bytes?|[KMGT]i?B|[kKMG]?Hz|ms|µs|ns|seconds?|minutes?|hours?|days?|weeks?|months?|"
          r"years?|°[CF]?|degrees?|km|cm|mm|m|kg|g|mg|l|ml|V|W|kW|A|pixels?|lines?|characters?|times|steps?)")
_PATTERNS = {
    "identifier": [
        re.compile(r"`([^`\n]{2,60})`"),  # inline code
        re.compile(r"(?<![\w/.-])((?:--?|/)?[A-Za-z][\w.-]*_[\w.-]*[A-Za-z0-9](?:\(\))?)(?![\w-])"),  # snake_case
        re.compile(r"(?<![\w/.-])([a-z]+[A-Z][A-Za-z0-9]+(?:\(\))?)(?![\w-])"),  # camelCase
        re.compile(r"(?<![\w-])([A-Z][A-Z0-9_]{2,}(?:_[A-Z0-9]+)*)(?![\w-])"),  # ALLCAPS constants
        re.compile(r"(?<![\w/.-])(--[a-z][\w-]+)"),  # command-line flags
        re.compile(r"(?<![\w.])((?:~|\.{1,2})?/[\w.-]+(?:/[\w.<>-]+)+/?)"),  # paths
        re.compile(r"(?<![\w.-])([A-Za-z_][\w-]*\.(?:h|c|py|xml|json|ya?ml|txt|conf|cfg|ini|html?|pdf|log|sh))(?![\w-])"),
    ],
    "date": [
        re.compile(rf"\b((?:\d{{1,2}} )?{_MONTHS} \d{{4}})\b"),
        re.compile(rf"\b({_MONTHS} \d{{1,2}}, \d{{4}})\b"),
        re.compile(r"\b(\d{4}-\d{2}-\d{2})\b"),
    ],
    "number": [
        re.compile(rf"(?<![\w.,-])(\d+(?:[.,]\d+)*\s?{_UNITS})(?!\w)"),  # with a unit
        re.compile(r"(?<![\w.,-])(\d+(?:st|nd|rd|th)(?: and \d+(?:st|nd|rd|th))?(?: centur(?:y|ies))?)(?!\w)"),
        re.compile(r"(?<![\w.,-])(\d+(?:\.\d+){1,3})(?!\w|\.\d)"),  # versions, decimals
        re.compile(r"(?<![\w.,-])(\d{2,}(?:,\d{3})*)(?!\w|[.,]\d)"),  # counts and years (two digits or more)
    ],
    "name": [re.compile(r"(?<![\w.])([A-Z][a-z]+(?:[ -](?:of |de |the |von )?[A-Z][a-zA-Z]+){0,4})(?![\w])")],
    "term": [
        re.compile(r"[\"“]([^\"”\n]{3,40})[\"”]"),
        re.compile(r"(?:called|named|known as|termed|referred to as)\s+([A-Za-z][\w-]*(?: [\w-]+){0,3})(?=[,.;:)])"),
    ],
    # what a clause ends on: "the disc is yellow", "represented by a white cross"
    "phrase": [re.compile(r"\b(?:is|are|was|were|by|as|into|from) +((?:(?:a|an|the) +)?[a-z][\w-]*(?: +[a-z][\w-]*){0,2})"
                          r"(?= *[,.;:)]| +(?:and|or|but|which|that|when|if)\b)")],
}
_TABLE_ROW = re.compile(r"^\|(.+)\|\s*$")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?\s*$")
_HEADING = re.compile(r"^#{1,6}\s")
_SENTENCE_START = re.compile(r"(?:^|[.!?:|]\s*|\n\s*(?:[-*]\s+)?)$")
_PLAIN_CAPITALS = {"MUST", "SHOULD", "SHALL", "MAY", "NOT", "REQUIRED", "RECOMMENDED", "OPTIONAL", "NOTE", "WARNING",
                   "TODO", "AND", "THE", "FOR", "YES"}  # RFC 2119 keywords and shouting, not identifiers
_WEAK_ENDINGS = {"it", "them", "this", "that", "these", "those", "used", "given", "done", "made", "one", "ones", "default"}
_COMMON_CAPITALS = {"The", "This", "That", "These", "Those", "There", "It", "In", "On", "At", "For", "If", "When",
                    "A", "An", "And", "But", "Or", "Note", "See", "Each", "Some", "All", "Any", "Its", "Their"}


@dataclass(frozen=True)
class Span:
    """A candidate answer: `text == chunk[start:end]`."""

    text: str
    start: int
    end: int
    kind: str


def candidate_spans(chunk: str, max_words: int = 6) -> list[Span]:
    """Candidate answers in `chunk`, best kinds first, each span once (its first occurrence), none inside
    a heading or a table's header row, none covering another chosen span."""
    blocked = _blocked_ranges(chunk)
    found: list[Span] = []
    taken: list[tuple[int, int]] = []
    seen: set[str] = set()
    for kind in KINDS:
        for start, end in _matches(kind, chunk):
            text = chunk[start:end].strip()
            start = chunk.index(text, start)
            end = start + len(text)
            key = text.lower()
            if (not text or key in seen or len(text.split()) > max_words or _inside(start, end, blocked)
                    or any(s < end and start < e for s, e in taken) or not _worth_asking(kind, text, chunk, start)):
                continue
            seen.add(key)
            taken.append((start, end))
            found.append(Span(text, start, end, kind))
    return found


def _matches(kind: str, chunk: str) -> list[tuple[int, int]]:
    if kind == "cell":
        return list(_table_cells(chunk))
    return [(m.start(1), m.end(1)) for pattern in _PATTERNS[kind] for m in pattern.finditer(chunk)]


def _table_cells(chunk: str):
    """(start, end) of the short values in the body rows of Markdown tables (rows after the |---| rule)."""
    offset, in_body = 0, False
    for line in chunk.splitlines(keepends=True):
        row = line.rstrip("\n")
        if not _TABLE_ROW.match(row):
            in_body = False
        elif _TABLE_RULE.match(row):
            in_body = True
        elif in_body:
            bars = [i for i, char in enumerate(row) if char == "|"]
            for left, right in zip(bars, bars[1:]):
                cell = row[left + 1:right]
                value = cell.strip()
                if value and len(value) <= 40:
                    start = offset + left + 1 + cell.index(value)
                    yield start, start + len(value)
        offset += len(line)


def _blocked_ranges(chunk: str) -> list[tuple[int, int]]:
    """Headings and table header rows: a question about them asks about the document's layout."""
    ranges, offset = [], 0
    lines = chunk.splitlines(keepends=True)
    for index, line in enumerate(lines):
        header_row = (_TABLE_ROW.match(line.rstrip("\n")) and not _TABLE_RULE.match(line)
                      and index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]))
        if _HEADING.match(line) or header_row:
            ranges.append((offset, offset + len(line)))
        offset += len(line)
    return ranges


def _inside(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in ranges)


def _worth_asking(kind: str, text: str, chunk: str, start: int) -> bool:
    if "\n" in text or not (text[0].isalnum() or text[0] in "-/~._") or not (text[-1].isalnum() or text[-1] in ")%°/"):
        return False
    if kind == "name":
        first = text.split()[0].split("-")[0]
        at_sentence_start = bool(_SENTENCE_START.search(chunk[:start]))
        return first not in _COMMON_CAPITALS and len(text) >= 3 and not (at_sentence_start and len(text.split()) < 2)
    if kind == "phrase":
        return len(text) >= 4 and text.split()[-1] not in _WEAK_ENDINGS
    if kind == "identifier":
        return not text.isdigit() and len(text) >= 3 and text not in _PLAIN_CAPITALS
    if kind == "number":
        return not re.fullmatch(r"\d{1,2}", text)
    return True
