"""An index on disk: immutable versioned folders, an atomic pointer to the current one, and a lock.

    ROOT/NAME/CURRENT          "v000003": the version readers open (replaced atomically)
    ROOT/NAME/.lock            held (fcntl) by the one process writing this index
    ROOT/NAME/v000003/         manifest.json (written last, with size + sha256 of every other file),
                               vectors.faiss, chunks.jsonl, documents.jsonl, bm25.* (keyword index)

A writer builds the next version in a temporary folder, renames it into place and then swaps the
pointer, so a process killed at any moment leaves the previous version loadable. Readers verify the
checksums, so a truncated or altered file is reported instead of producing wrong results.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from workbench.indexing.errors import IndexCorrupt, IndexLocked, IndexNotFound, InvalidIndexName
from workbench.indexing.manifest import FORMAT_VERSION, Manifest
from workbench.ondisk import SchemaViolation, conform, exclusive

POINTER = "CURRENT"
LOCK = ".lock"
MANIFEST = "manifest.json"
_TEMP_PREFIX = ".tmp-"
_VERSION = re.compile(r"^v(\d{6})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Snapshot:
    version: str
    manifest: Manifest
    files: dict[str, bytes]  # every listed file but those left on disk (`read_snapshot`'s `on_disk`)


def validate_name(name: str) -> str:
    """Index names are folder names: letters, digits, '.', '_', '-', not starting with a dot."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidIndexName(f"invalid index name {name!r}: use letters, digits, '.', '_' and '-' "
                               "(at most 100, starting with a letter or digit)")
    return name


def index_path(root: Path, name: str) -> Path:
    return Path(root) / validate_name(name)


def index_exists(path: Path) -> bool:
    return (path / POINTER).is_file()


def write_lock(path: Path) -> AbstractContextManager[None]:
    """Exclusive right to write the index at `path`; a second writer fails at once with a clear message."""
    return exclusive(path / LOCK, lambda holder: IndexLocked(
        f"index '{path.name}' is being written by another process (pid {holder}); try again when it has finished"))


def current_version(path: Path) -> str | None:
    """The version CURRENT points to: a version folder's name inside `path`, never a path elsewhere."""
    try:
        version = (path / POINTER).read_bytes().decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise damaged(path, path / POINTER, "a folder, not the version pointer") from None
    if not _VERSION.match(version):
        raise damaged(path, path / POINTER, f"points to {version[:40]!r}, not a version folder like 'v000001'")
    return version


def read_manifest(path: Path) -> tuple[str, Manifest]:
    """The current version's name and manifest, without reading the other files."""
    version = current_version(path)
    if version is None:
        raise IndexNotFound(f"no index named '{path.name}' in {path.parent} "
                            f"(build one with `wb index build {path.name} PATH...`)")
    manifest_path = path / version / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        raise damaged(path, manifest_path, "missing") from None
    except IsADirectoryError:
        raise damaged(path, manifest_path, "a folder, not a file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise damaged(path, manifest_path, f"not valid JSON ({exc})") from None
    found = manifest.get("format_version") if isinstance(manifest, dict) else None
    if found != FORMAT_VERSION:
        raise damaged(path, manifest_path, f"format version {found!r}, this workbench reads {FORMAT_VERSION}")
    try:
        return version, conform(Manifest, manifest)
    except SchemaViolation as exc:
        raise damaged(path, manifest_path, str(exc)) from None


def read_snapshot(path: Path, required: Iterable[str] = (), on_disk: tuple[str, ...] = (),
                  only: Iterable[str] | None = None) -> Snapshot:
    """The current version with every file checked against the size and sha256 in its manifest; each of
    `required` must be listed there. Files whose names start with one of `on_disk` are checked as they
    are read, a block at a time, and left out of `files`: the caller maps them from the version's folder.
    With `only`, the other files are neither read nor checked."""
    version, manifest = read_manifest(path)
    unlisted = sorted(set(required) - set(manifest.files))
    if unlisted:
        raise damaged(path, path / version / MANIFEST, f"lists no {', '.join(unlisted)}")
    files = {}
    for name, expected in manifest.files.items():
        if only is not None and name not in only:
            continue
        file = path / version / name
        if file.parent != path / version:
            raise damaged(path, path / version / MANIFEST, f"lists a file outside its folder: {name!r}")
        try:
            size, digest, data = _read_checked(file, keep=not name.startswith(on_disk))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise damaged(path, file, "missing") from None
        if size != expected.bytes:
            raise damaged(path, file, f"truncated or altered: {size} bytes, expected {expected.bytes}")
        if digest != expected.sha256:
            raise damaged(path, file, "checksum mismatch (the file was altered)")
        if data is not None:
            files[name] = data
    return Snapshot(version, manifest, files)


def _read_checked(file: Path, keep: bool) -> tuple[int, str, bytes | None]:
    """(size, sha256, content if `keep`) of `file`; read a block at a time when its content is not kept."""
    if keep:
        data = file.read_bytes()
        return len(data), hashlib.sha256(data).hexdigest(), data
    digest, size = hashlib.sha256(), 0
    with open(file, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest(), None


def write_snapshot(path: Path, manifest: dict, files: dict[str, bytes]) -> str:
    """Write a new version and make it current; the caller holds `write_lock(path)`. The manifest is
    checked against the schema its readers use before anything is written."""
    checksums = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    manifest = Manifest.model_validate({"format_version": FORMAT_VERSION, **manifest, "files": checksums})
    for stale in path.glob(f"{_TEMP_PREFIX}*"):  # left by a writer that was killed
        shutil.rmtree(stale, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=path))
    for name, data in files.items():
        _write_synced(temp / name, data)
    _write_synced(temp / MANIFEST, manifest.model_dump_json(indent=1).encode())
    try:
        previous = current_version(path)
    except IndexCorrupt:  # a damaged pointer is what this new version replaces
        previous = None
    version = f"v{max(_version_numbers(path), default=0) + 1:06d}"
    os.rename(temp, path / version)
    _write_synced(path / f"{POINTER}.tmp", version.encode())
    os.replace(path / f"{POINTER}.tmp", path / POINTER)
    _fsync_dir(path)
    for old in _version_numbers(path):  # keep the previous version for readers that opened it just now
        if f"v{old:06d}" not in (version, previous):
            shutil.rmtree(path / f"v{old:06d}", ignore_errors=True)
    return version


def damaged(index: Path, file: Path, problem: str) -> IndexCorrupt:
    return IndexCorrupt(f"index '{index.name}' is damaged: {file}: {problem}; "
                        f"rebuild it with `wb index build {index.name} PATH...`")


def _version_numbers(path: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in path.iterdir() if (m := _VERSION.match(p.name)))


def _write_synced(file: Path, data: bytes) -> None:
    with open(file, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
