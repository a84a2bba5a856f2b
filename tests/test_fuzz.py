"""Fuzz every loader and every file workbench reads back: any bytes, any JSON value, or a valid file with
one field changed gives a result or a `WorkbenchError` that names the file, never another exception."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.corpus import (
    Document,
    load_instructions,
    load_labeled_table,
    load_preferences,
    load_qa,
    load_squad,
)
from workbench.errors import WorkbenchError
from workbench.indexing import Index, build_index, load_documents
from workbench.jobs import JOB_FILE, STATUS_FILE, read_job
from workbench.models.adapter_files import read_adapter_file
from workbench.runfolder import COMPLETE_MARKER, RunDir

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
some_bytes = st.binary(max_size=300) | st.text(max_size=200).map(str.encode)


def mutated(value, draw_path: list, replacement, delete: bool):
    """`value` with the entry at `draw_path` (indices into its dict keys / list positions) replaced or deleted."""
    value = copy.deepcopy(value)
    node, key = None, None
    current = value
    for step in draw_path:
        if isinstance(current, dict) and current:
            node, key = current, sorted(current)[step % len(current)]
        elif isinstance(current, list) and current:
            node, key = current, step % len(current)
        else:
            break
        current = node[key]
    if node is None:
        return replacement
    if delete and isinstance(node, dict):
        del node[key]
    else:
        node[key] = replacement
    return value


mutations = st.tuples(st.lists(st.integers(0, 50), max_size=5), json_values, st.booleans())


def assert_names_the_file(exc: WorkbenchError, *names: str) -> None:
    assert any(name in str(exc) for name in names), str(exc)


# ---- the loaders of users' files -------------------------------------------------------------------

LOADERS = {"squad.json": load_squad, "qa.jsonl": load_qa, "qa.json": load_qa, "instructions.json": load_instructions,
           "preferences.jsonl": load_preferences, "labels.csv": load_labeled_table, "labels.tsv": load_labeled_table}


@pytest.mark.parametrize("name", sorted(LOADERS))
@FUZZ
@given(data=some_bytes)
def test_dataset_loaders_survive_any_bytes(name, data, tmp_path):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        LOADERS[name](path)
    except WorkbenchError as exc:
        assert_names_the_file(exc, str(path))


SQUAD = {"data": [{"title": "T", "paragraphs": [{"context": "Some context.", "qas": [
    {"id": "q1", "question": "What?", "answers": [{"text": "Some", "answer_start": 0}]}]}]}]}
RECORDS = {"qa.jsonl": [{"question": "What?", "answer": "That", "context": "That is it.", "doc_id": 3}],
           "instructions.json": [{"instruction": "Say hi", "input": "", "output": "hi"}],
           "preferences.jsonl": [{"prompt": "Say hi", "chosen": "hi", "rejected": "go away"}]}


def write_records(path: Path, value) -> None:
    if path.suffix == ".jsonl" and isinstance(value, list):
        path.write_text("".join(json.dumps(v) + "\n" for v in value), encoding="utf-8")
    else:
        path.write_text(json.dumps(value), encoding="utf-8")


@pytest.mark.parametrize("name", ["squad.json", *sorted(RECORDS)])
@FUZZ
@given(mutation=mutations)
def test_dataset_loaders_survive_any_json_in_any_field(name, mutation, tmp_path):
    path = tmp_path / name
    write_records(path, mutated(SQUAD if name == "squad.json" else RECORDS[name], *mutation))
    try:
        LOADERS[name](path)
    except WorkbenchError as exc:
        assert_names_the_file(exc, str(path))


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".json", ".jsonl", ".csv", ".tsv", ".pdf"])
@FUZZ
@given(data=some_bytes)
def test_the_indexing_loader_survives_any_bytes(suffix, data, tmp_path):
    path = tmp_path / f"file{suffix}"
    path.write_bytes(data)
    try:
        load_documents([path])
    except WorkbenchError as exc:
        assert_names_the_file(exc, str(path))


# ---- an index's files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, embedder) -> Path:
    config_root = tmp_path_factory.mktemp("indexes")
    from workbench.config import load_config

    config = load_config(overrides=[f"index.root={config_root}"])
    documents = [Document("a", "Llamas live in the Andes.\u2028They carry loads.", {"source": "a.txt"}),
                 Document("b", "Penguins swim in cold seas.", {"source": "b.txt", "n": 2})]
    return build_index("fuzzed", documents, config=config).path


def damaged_copy(index: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy_ = tmp_path / index.name
    shutil.rmtree(copy_, ignore_errors=True)
    shutil.copytree(index, copy_)
    return copy_, copy_ / (copy_ / "CURRENT").read_text().strip()


def reseal(version: Path, name: str) -> None:
    """Make the manifest's checksum of `name` match its new content, so the schema checks are reached."""
    manifest = json.loads((version / "manifest.json").read_text())
    data = (version / name).read_bytes()
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (version / "manifest.json").write_text(json.dumps(manifest))


def open_or_damaged(path: Path) -> None:
    try:
        Index.load(path)
    except WorkbenchError as exc:
        assert f"index '{path.name}'" in str(exc) and "damaged" in str(exc), str(exc)


def test_the_index_fixture_round_trips_a_line_separator(built_index):
    """U+2028 inside a chunk is no line break of chunks.jsonl (it was split there once)."""
    assert "Andes.\u2028They" in Index.load(built_index).document_text("a")


@FUZZ
@given(mutation=mutations)
def test_an_index_manifest_with_any_field_changed_is_opened_or_reported(built_index, tmp_path, mutation):
    path, version = damaged_copy(built_index, tmp_path)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps(mutated(manifest, *mutation)))
    open_or_damaged(path)


@pytest.mark.parametrize("name", ["chunks.jsonl", "documents.jsonl"])
@FUZZ
@given(mutation=mutations, whole=st.booleans() | some_bytes)
def test_index_rows_with_any_field_changed_are_opened_or_reported(built_index, tmp_path, name, mutation, whole):
    path, version = damaged_copy(built_index, tmp_path)
    rows = [json.loads(line) for line in (version / name).read_text().split("\n") if line]
    if isinstance(whole, bytes):
        (version / name).write_bytes(whole)
    else:
        changed = mutated(rows, *mutation)
        lines = changed if isinstance(changed, list) else [changed]
        (version / name).write_text("".join(json.dumps(row) + "\n" for row in lines))
    reseal(version, name)
    open_or_damaged(path)


@FUZZ
@given(pointer=some_bytes | st.sampled_from([b"../elsewhere", b"/etc", b"v000001/../../x", b"v999999"]))
def test_any_current_pointer_is_followed_only_inside_the_index(built_index, tmp_path, pointer):
    path, _ = damaged_copy(built_index, tmp_path)
    (path / "CURRENT").write_bytes(pointer)
    open_or_damaged(path)


# ---- run folders, jobs, adapters -------------------------------------------------------------------

RUN_FILES = {
    "config.json": {"kind": "generator", "source": "d.json", "train_examples": 8, "eval_examples": 2,
                    "options": {"method": "lora", "max_length": 64, "model": "m"}},
    "summary.json": {"kind": "generator", "method": "lora", "trainable_params": 1, "total_params": 2,
                     "trainable_percent": 50.0, "saved_bytes": 3, "wall_seconds": 1.0, "peak_rss_bytes": 4,
                     "train_seconds": 0.5, "steps": 1, "final": {"eval_loss": 1.0}},
}


@FUZZ
@given(mutation=mutations, target=st.sampled_from(sorted(RUN_FILES)), lines=st.lists(json_values, max_size=3))
def test_a_run_folder_with_any_field_changed_is_read_or_reported(tmp_path, mutation, target, lines):
    run_path = tmp_path / "run"
    shutil.rmtree(run_path, ignore_errors=True)
    run_path.mkdir()
    for name, value in RUN_FILES.items():
        (run_path / name).write_text(json.dumps(mutated(value, *mutation) if name == target else value))
    for name in ("metrics.jsonl", "curve.jsonl"):
        (run_path / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run_path / COMPLETE_MARKER).write_text("done")
    run = RunDir.open(run_path)
    for read in (run.config, run.summary, run.metrics, run.curve):
        try:
            read()
        except WorkbenchError as exc:
            assert_names_the_file(exc, str(run_path))


@FUZZ
@given(spec=json_values, status=json_values)
def test_a_job_folder_with_any_json_is_read_or_reported(tmp_path, spec, status):
    path = tmp_path / "job"
    path.mkdir(exist_ok=True)
    (path / JOB_FILE).write_text(json.dumps(spec))
    (path / STATUS_FILE).write_text(json.dumps(status))
    try:
        read_job(path)
    except WorkbenchError as exc:
        assert_names_the_file(exc, str(path))


@FUZZ
@given(data=some_bytes)
def test_an_adapter_config_of_any_bytes_is_read_or_reported(tmp_path, data):
    path = tmp_path / "adapter_config.json"
    path.write_bytes(data)
    try:
        read_adapter_file(path)
    except WorkbenchError as exc:
        assert_names_the_file(exc, str(path))
