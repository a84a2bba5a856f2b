"""Turn users' files into `Document`s, one loader per format.

HTML, Word and PowerPoint files become Markdown through `workbench.indexing.converters`; PDF pages are
read from their text layer with pypdf; text and Markdown files are read as they are; JSON, JSON Lines,
CSV and TSV files hold one document per record or row.

A file named on the command line that cannot be read is an error; inside a folder, the same file is
skipped with a warning and reported in the result, so one bad file does not stop a large import.
Document ids are stable across runs: the path relative to the folder given (or the file name), plus
`#line N` / `#row N` / `#page N` for files holding several documents, or the record's own id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.corpus import DatasetError, Document, load_squad, read_records
from workbench.corpus.loaders import table_reader, table_rows
from workbench.indexing.converters import CONVERTERS, LEGACY_OFFICE, Done
from workbench.indexing.errors import NoDocuments
from workbench.progress import ProgressCallback, start_stage

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | set(CONVERTERS) | {".pdf", ".json", ".jsonl", ".csv", ".tsv"}


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class LoadedDocuments:
    documents: list[Document]
    skipped: list[SkippedFile] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    text_field: str
    text_column: str
    id_field: str


def load_documents(sources: Iterable[str | Path], *, text_field: str = "text", text_column: str = "text",
                   id_field: str = "id", progress: ProgressCallback | None = None) -> LoadedDocuments:
    """Documents from files and folders (searched recursively for supported extensions).

    `text_field` names the text of JSON/JSONL records, `text_column` the text column of CSV/TSV
    tables; `id_field` (a record field or a column) gives the document id when present. `progress`
    hears of the stage "reading", counted in bytes of the files read (a large page moves it as its
    parts are converted).
    """
    options = _Options(text_field, text_column, id_field)
    sources = [Path(source) for source in sources]
    files = list(_files(sources))
    reading = start_stage(progress, "reading", sum(_size(path) for path, _, _ in files) or None)
    loaded = LoadedDocuments([])
    for path, doc_id, named in files:
        started, size = reading.done, _size(path)

        def done(share: float, started: int = started, size: int = size) -> None:
            reading.done = started + int(share * size)
            reading.report()

        try:
            loaded.documents.extend(_load_file(path, doc_id, options, done))
        except DatasetError as exc:
            if named:
                raise
            log.warning("skipping %s", exc)
            loaded.skipped.append(SkippedFile(str(path), exc.problem))
        done(1.0)
    if not loaded.documents:
        names = ", ".join(str(s) for s in sources)
        reasons = "; ".join(f"{skip.path}: {skip.reason}" for skip in loaded.skipped[:5])
        raise NoDocuments(f"no documents found in {names} (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
                          + (f"; skipped {len(loaded.skipped)} file(s): {reasons}" if reasons else ""))
    _check_unique_ids(loaded.documents)
    return loaded


def _files(sources: list[Path]) -> Iterable[tuple[Path, str, bool]]:
    """(path, document id, named on its own) of every file to read: a folder's supported files, recursively
    (its legacy Office files too, to be reported as skipped with how to convert them)."""
    for source in sources:
        if source.is_dir():
            for path in sorted(p for p in source.rglob("*") if _is_candidate(p, source)):
                yield path, path.relative_to(source).as_posix(), False
        elif source.is_file():
            if source.suffix.lower() in LEGACY_OFFICE:
                raise DatasetError(source, LEGACY_OFFICE[source.suffix.lower()])
            if source.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise DatasetError(source, f"unsupported file type '{source.suffix}' "
                                           f"(supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})")
            yield source, source.name, True
        else:
            raise DatasetError(source, "no such file or folder")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _is_candidate(path: Path, folder: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
    suffix = path.suffix.lower()
    return path.is_file() and not hidden and (suffix in SUPPORTED_SUFFIXES or suffix in LEGACY_OFFICE)


def _check_unique_ids(documents: list[Document]) -> None:
    seen: dict[str, Document] = {}
    for doc in documents:
        if doc.id in seen:
            first, second = seen[doc.id].metadata.get("source"), doc.metadata.get("source")
            raise DatasetError(second, f"document id '{doc.id}' is also used by {first}; "
                                       "ids must be unique (give the files different names or record ids)")
        seen[doc.id] = doc


def _load_file(path: Path, doc_id: str, options: _Options, done: Done) -> list[Document]:
    """The documents of one file; `doc_id` is the file's id (its path relative to the folder given)."""
    suffix = path.suffix.lower()
    if suffix in LEGACY_OFFICE:
        raise DatasetError(path, LEGACY_OFFICE[suffix])
    if suffix == ".pdf":
        return _load_pdf(path, doc_id)
    if suffix in (".json", ".jsonl"):
        return _load_records(path, doc_id, options)
    if suffix in (".csv", ".tsv"):
        return _load_table(path, doc_id, options)
    if suffix in CONVERTERS:
        converted = CONVERTERS[suffix](path, done)
        text, title = converted.text, converted.title
    else:
        text = read_text_file(path)
        heading = re.search(r"^#[ \t]+(.+?)[ \t#]*$", text, flags=re.MULTILINE) if suffix in MARKDOWN_SUFFIXES else None
        title = heading.group(1) if heading else None
    return [Document(doc_id, text, {"source": str(path), "title": title or path.stem})]


def read_text_file(path: Path) -> str:
    """A UTF-8 text file's content; binary, undecodable and empty files are errors naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror})") from None
    if b"\x00" in data[:8192]:
        raise DatasetError(path, "binary file, not text (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not valid UTF-8 (byte {exc.start}); convert the file to UTF-8") from None
    if not text.strip():
        raise DatasetError(path, "file is empty")
    return text


def _load_pdf(path: Path, doc_id: str) -> list[Document]:
    """One document per page with a text layer (scanned pages have none)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):  # an owner password alone still opens
            raise DatasetError(path, "the PDF is password-protected: remove the password (e.g. `qpdf --decrypt "
                                     "--password=PASSWORD IN OUT`) and add the decrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or path.stem
    except (PyPdfError, OSError, ValueError) as exc:
        raise DatasetError(path, f"not a readable PDF ({exc})") from None
    documents = [Document(f"{doc_id}#page{number}", text, {"source": str(path), "title": title, "page": number})
                 for number, text in enumerate(pages, start=1) if text.strip()]
    if not documents:
        raise DatasetError(path, "the PDF has no text layer (scanned images need OCR first)")
    return documents


def _load_records(path: Path, doc_id: str, options: _Options) -> list[Document]:
    """SQuAD JSON (one document per paragraph), or JSON/JSONL records with a text field."""
    if path.suffix.lower() == ".json" and _is_squad(path):
        return load_squad(path).documents
    documents = []
    for where, record in read_records(path):
        text = record.get(options.text_field)
        if not isinstance(text, str):
            fields = ", ".join(record) or "none"
            raise DatasetError(path, f"no text field '{options.text_field}' (fields: {fields}); "
                                     "choose it with --text-field", where)
        if not text.strip():
            continue
        record_id = record.get(options.id_field)
        metadata = {k: v for k, v in record.items() if k != options.text_field and _is_scalar(v)}
        metadata["source"] = str(path)
        documents.append(Document(str(record_id) if record_id is not None else f"{doc_id}#{where.replace(' ', '')}",
                                  text, metadata))
    if not documents:
        raise DatasetError(path, f"every record has an empty '{options.text_field}'")
    return documents


def _is_squad(path: Path) -> bool:
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON ({exc.msg})", f"line {exc.lineno}") from None
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _load_table(path: Path, doc_id: str, options: _Options) -> list[Document]:
    text = read_text_file(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = table_reader(text, path, delimiter)
    columns = reader.fieldnames or []
    if options.text_column not in columns:
        raise DatasetError(path, f"no text column '{options.text_column}' (columns: {', '.join(columns)}); "
                                 "choose it with --text-column")
    documents = []
    for number, row in table_rows(reader, path):
        if None in row or any(value is None for value in row.values()):
            raise DatasetError(path, f"expected {len(columns)} columns", f"line {number}")
        body = row[options.text_column]
        if not body.strip():
            continue
        record_id = row.get(options.id_field)
        metadata = {k: v for k, v in row.items() if k != options.text_column}
        metadata["source"] = str(path)
        documents.append(Document(record_id or f"{doc_id}#line{number}", body, metadata))
    if not documents:
        raise DatasetError(path, f"no rows with a non-empty '{options.text_column}'")
    return documents
