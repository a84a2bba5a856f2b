"""Loaders for the dataset formats users bring. A malformed record is a `DatasetError` that names the
file, the line or record number, and what is wrong."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.corpus.records import (
    Corpus,
    Document,
    InstructionExample,
    LabeledText,
    PreferenceExample,
    QAPair,
)
from workbench.errors import WorkbenchError
from workbench.ondisk import jsonl_lines

log = logging.getLogger(__name__)


class DatasetError(WorkbenchError):
    def __init__(self, path: Path | str, problem: str, where: str | None = None):
        self.path, self.problem, self.where = str(path), problem, where
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror})") from None


def table_reader(text: str, path: Path, delimiter: str, quoting: int = csv.QUOTE_MINIMAL) -> csv.DictReader:
    """A CSV/TSV reader over the whole text, its header read: a quoted field keeps its line breaks (and
    U+2028), which splitting the text into lines first would cut out."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        reader.fieldnames  # noqa: B018 (reads the header)
    except csv.Error as exc:
        raise DatasetError(path, f"not a readable table ({exc})", "line 1") from None
    return reader


def table_rows(reader: csv.DictReader, path: Path) -> Iterator[tuple[int, dict]]:
    """(line where the row starts, row) of a `table_reader`; a malformed table is a `DatasetError`."""
    start = reader.line_num + 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(path, f"not a readable table ({exc})", f"line {reader.line_num}") from None


def read_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, record) from a JSON list or a JSON Lines file; location is 'line N' or 'record N'."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise DatasetError(path, "file is empty")
    if path.suffix == ".jsonl" or not text.lstrip().startswith("["):
        for number, line in jsonl_lines(text):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(path, f"invalid JSON ({exc.msg})", f"line {number}") from None
            if not isinstance(record, dict):
                raise DatasetError(path, f"expected a JSON object, got {type(record).__name__}", f"line {number}")
            yield f"line {number}", record
        return
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON ({exc.msg})", f"line {exc.lineno}") from None
    if not isinstance(records, list):
        raise DatasetError(path, f"expected a JSON list of objects, got {type(records).__name__}")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DatasetError(path, f"expected a JSON object, got {type(record).__name__}", f"record {number}")
        yield f"record {number}", record


def _string(record: dict, key: str, path: Path, where: str, required: bool = True) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise DatasetError(path, f"missing field '{key}'", where)
        return ""
    if not isinstance(value, str):
        raise DatasetError(path, f"field '{key}' must be a string, got {type(value).__name__}", where)
    if required and not value.strip():
        raise DatasetError(path, f"field '{key}' is empty", where)
    return value


def _identifier(record: dict, key: str, path: Path, where: str) -> str | None:
    """An optional id field: a string or an integer (read as its digits), else None when absent."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DatasetError(path, f"field '{key}' must be a string or an integer, got {type(value).__name__}", where)
    return str(value)


def _nonempty(items: list, path: Path, what: str) -> list:
    if not items:
        raise DatasetError(path, f"no {what} found")
    return items


def load_squad(path: str | Path) -> Corpus:
    """SQuAD v1.1 JSON: one document per paragraph (id `Title/pN`), article title as metadata and topic."""
    path = Path(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON ({exc.msg})", f"line {exc.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(path, "not SQuAD format: expected an object with a 'data' list of articles")
    documents, qa_pairs = [], []
    for a_index, article in enumerate(data["data"]):
        where = f"article {a_index}"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DatasetError(path, "expected 'title' and a 'paragraphs' list", where)
        title = _string(article, "title", path, where)
        for p_index, paragraph in enumerate(article["paragraphs"]):
            where = f"article {a_index} ('{title}') paragraph {p_index}"
            if not isinstance(paragraph, dict):
                raise DatasetError(path, "expected an object with 'context' and 'qas'", where)
            context = _string(paragraph, "context", path, where)
            doc_id = f"{title}/p{p_index}"
            documents.append(Document(doc_id, context, {"title": title, "paragraph": p_index, "source": str(path)}))
            questions = paragraph.get("qas", [])
            if not isinstance(questions, list):
                raise DatasetError(path, f"'qas' must be a list of question objects, got {type(questions).__name__}",
                                   where)
            for q_index, qa in enumerate(questions):
                q_where = f"{where} question {q_index}"
                if not isinstance(qa, dict):
                    raise DatasetError(path, f"expected a question object, got {type(qa).__name__}", q_where)
                question = _string(qa, "question", path, q_where)
                answers = qa.get("answers")
                if not isinstance(answers, list) or not answers:
                    raise DatasetError(path, "missing or empty 'answers' list", q_where)
                texts = []
                for answer in answers:
                    if not isinstance(answer, dict):
                        raise DatasetError(path, "each answer must be an object with 'text'", q_where)
                    texts.append(_string(answer, "text", path, q_where))
                qa_id = _identifier(qa, "id", path, q_where) or f"{doc_id}/q{q_index}"
                qa_pairs.append(QAPair(qa_id, question, tuple(dict.fromkeys(texts)), context, doc_id, title))
    _nonempty(documents, path, "paragraphs")
    return Corpus(name=path.stem, documents=documents, qa_pairs=qa_pairs)


def load_qa_records(path: str | Path) -> list[QAPair]:
    """JSON/JSONL records with `question`, `answer` or `answers`, optional `context`, `doc_id`, `id`."""
    path = Path(path)
    pairs = []
    for where, record in read_records(path):
        question = _string(record, "question", path, where)
        if "answers" in record:
            answers = record["answers"]
            if isinstance(answers, str):
                answers = [answers]
            if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
                raise DatasetError(path, "'answers' must be a non-empty list of non-empty strings", where)
        elif "answer" in record:
            answers = [_string(record, "answer", path, where)]
        else:
            raise DatasetError(path, "missing field 'answer' (or 'answers')", where)
        context = _string(record, "context", path, where, required=False) or None
        pairs.append(QAPair(_identifier(record, "id", path, where) or where, question, tuple(answers), context,
                            _identifier(record, "doc_id", path, where),
                            _string(record, "topic", path, where, required=False) or None))
    return _nonempty(pairs, path, "question-answer records")


def load_qa(path: str | Path) -> list[QAPair]:
    """QA pairs from a SQuAD JSON file or from QA records, whichever `path` holds."""
    path = Path(path)
    if path.suffix == ".json" and _looks_like_squad(path):
        return load_squad(path).qa_pairs
    return load_qa_records(path)


def _looks_like_squad(path: Path) -> bool:
    head = _read_text(path)[:2000].lstrip()
    return head.startswith("{") and '"data"' in head


def load_instructions(path: str | Path) -> list[InstructionExample]:
    """Alpaca-style `instruction`, optional `input`, `output` records (JSON list or JSONL)."""
    path = Path(path)
    examples = [
        InstructionExample(
            _string(record, "instruction", path, where),
            _string(record, "input", path, where, required=False),
            _string(record, "output", path, where),
        )
        for where, record in read_records(path)
    ]
    return _nonempty(examples, path, "instruction records")


def load_preferences(path: str | Path) -> list[PreferenceExample]:
    """Preference records: `prompt` (or `instruction` + optional `input`), `chosen`, `rejected`."""
    path = Path(path)
    examples, identical = [], []
    for where, record in read_records(path):
        if "prompt" in record:
            prompt = _string(record, "prompt", path, where)
        elif "instruction" in record:
            prompt = InstructionExample(_string(record, "instruction", path, where),
                                        _string(record, "input", path, where, required=False), "").prompt
        else:
            raise DatasetError(path, "missing field 'prompt' (or 'instruction')", where)
        chosen, rejected = _string(record, "chosen", path, where), _string(record, "rejected", path, where)
        if chosen.strip() == rejected.strip():  # prefers nothing: skipped, and said
            identical.append(where)
            continue
        examples.append(PreferenceExample(prompt, chosen, rejected))
    if identical:
        log.warning("%s: skipped %d pair(s) whose 'chosen' and 'rejected' are identical (they prefer nothing): %s",
                    path, len(identical), ", ".join(identical))
    if not examples and identical:
        raise DatasetError(path, "every pair has identical 'chosen' and 'rejected': nothing to prefer")
    return _nonempty(examples, path, "preference records")


def load_labeled_table(path: str | Path, text_column: str = "text", label_column: str = "label",
                       delimiter: str | None = None) -> list[LabeledText]:
    """A CSV/TSV text-label table; the delimiter follows the extension (.tsv: tab) unless given."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise DatasetError(path, "file is empty")
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    # SST-2 style TSVs hold unbalanced quotes: read tabs literally, no quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = table_reader(text, path, delimiter, quoting)
    columns = reader.fieldnames or []
    for column in (text_column, label_column):
        if column not in columns:
            raise DatasetError(path, f"missing column '{column}' (columns: {', '.join(columns)}); "
                                     "choose columns with --text-column/--label-column")
    rows = []
    for number, row in table_rows(reader, path):
        if None in row or any(row.get(c) is None for c in (text_column, label_column)):
            raise DatasetError(path, f"expected {len(columns)} columns", f"line {number}")
        body, label = row[text_column].strip(), row[label_column].strip()
        if not body:
            raise DatasetError(path, f"empty '{text_column}'", f"line {number}")
        if not label:
            raise DatasetError(path, f"empty '{label_column}'", f"line {number}")
        rows.append(LabeledText(body, label))
    return _nonempty(rows, path, "rows")
