"""Files workbench writes and reads back.

Writes are atomic (a temporary sibling, fsync, rename), so a crash or a full disk never leaves half a
file. Reads go through one pydantic schema per file, so a damaged or hand-edited file becomes one
message naming the field and the problem, instead of a `KeyError` deep inside a loader; callers add
the file and what to do about it.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from workbench.errors import WorkbenchError

T = TypeVar("T")


class FileWriteError(WorkbenchError):
    """A file could not be written (full disk, no permission); nothing half-written is left behind."""


class SchemaViolation(ValueError):
    """A value that does not fit its schema; the message names the first field at fault."""


def _new_file_mode() -> int:
    """The mode `open()` gives a new file under the process's umask (mkstemp's own 0600 would hide
    every written file from the other users of a shared machine). Read once: setting the umask to read
    it is not thread-safe."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `path` through a temporary sibling and `os.replace`, so a crash never leaves half a file.

    A replaced file keeps its permissions; a new one gets those of any new file. A full disk surfaces
    as a `FileWriteError` naming the file, and the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    mode = path.stat().st_mode & 0o7777 if path.exists() else _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileWriteError(f"{path}: cannot write ({exc.strerror or exc})") from None


@contextmanager
def exclusive(lock_file: Path, busy: Callable[[str], Exception] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created if needed) for the block: one writer at a time
    across processes. A second holder waits, or with `busy` fails at once with `busy(holder's pid)`.
    The lock goes with the process, so a killed holder never leaves a stale lock behind."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy else 0))
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise busy(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """One JSON value per line, written atomically."""
    write_atomic(path, encode_jsonl(rows))


def encode_jsonl(rows: Iterable[Any]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-blank lines. Only '\\n' ends a line: JSON strings may hold U+2028
    and other characters that `str.splitlines` would split a record at."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def conform(schema: type[T] | Any, value: Any) -> T:
    """`value` validated as `schema` (a pydantic model, dataclass or type), or a `SchemaViolation`."""
    try:
        return _adapter(schema).validate_python(value)
    except ValidationError as exc:
        raise SchemaViolation(describe(exc)) from None


def parse_json(schema: type[T] | Any, data: bytes | str) -> T:
    """JSON text validated as `schema`, or a `SchemaViolation` saying what is wrong."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaViolation(f"not valid JSON ({exc})") from None
    return conform(schema, value)


def parse_jsonl(schema: type[T] | Any, data: bytes | str) -> list[T]:
    """Every line of JSON Lines text validated as `schema`; a `SchemaViolation` names the line."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise SchemaViolation(f"not valid UTF-8 (byte {exc.start})") from None
    rows = []
    for number, line in jsonl_lines(text):
        try:
            rows.append(parse_json(schema, line))
        except SchemaViolation as exc:
            raise SchemaViolation(f"line {number}: {exc}") from None
    return rows


def read_file(path: Path, schema: type[T] | Any, jsonl: bool = False) -> T:
    """The JSON (or JSON Lines) file at `path` as `schema`; `FileNotFoundError` passes through, any other
    problem is a `SchemaViolation`."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SchemaViolation("a folder, not a file") from None
    return parse_jsonl(schema, data) if jsonl else parse_json(schema, data)


def describe(exc: ValidationError) -> str:
    """The first problem pydantic found, as 'field.path: message', and how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = first["msg"].removeprefix("Value error, ")  # a validator's own message reads as it was written
    return f"{where + ': ' if where else ''}{message}{more}"


@functools.cache
def _adapter(schema: Any) -> TypeAdapter:
    return TypeAdapter(schema)


def human_size(n_bytes: int) -> str:
    """A size in bytes as people read it: 512 B, 1.5 KB, 42.0 MB, 2.3 GB."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
