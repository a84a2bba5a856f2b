"""`wb study FOLDER --smoke` on a folder of Markdown, HTML, Word and PDF files, on the real embedded models:
the report holds every strategy of both designs with the study's own parts (retrieval ceiling, changed
facts, projection, question trust); a rerun reuses every step; a killed study resumes to the same
predictions; a changed folder is re-indexed and said so; a folder too small still gets a report."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import own_documents_config
from tests.processes import WB, _environment
from tests.test_own_documents_end_to_end import own_folder
from workbench.cli.main import main
from workbench.config import load_config
from workbench.indexing import open_index

STRATEGIES = ["zero-shot", "few-shot", "rag[hybrid=false]", "documents-lora", "qa-lora", "documents-then-qa-lora",
              "rag+raft-lora"]


def _flags(root: Path) -> list[str]:
    return ["--set", f"index.root={root / 'indexes'}", "--set", f"training.output_root={root / 'runs'}"]


def _study(folder: Path, root: Path, *extra: str) -> tuple[int, dict]:
    code = main(["study", str(folder), "--smoke", "--json", *_flags(root), *extra])
    return code, json.loads((root / "runs" / "studies" / f"{folder.name}-smoke" / "study.json").read_text())


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    folder = own_folder(root / "docs")
    code, report = _study(folder, root)
    return root, folder, code, report, _predictions(root, folder, "knowledge")


def _predictions(root: Path, folder: Path, design: str) -> dict[str, list]:
    found = root / "runs" / "studies" / f"{folder.name}-smoke" / design / "predictions"
    return {p.name: [row["prediction"] for row in map(json.loads, p.read_text().splitlines())]
            for p in sorted(found.glob("*.jsonl"))}


@pytest.mark.long
def test_a_folder_becomes_a_report_with_every_strategy_in_both_designs(study):
    root, folder, code, report, _ = study
    knowledge, reading = report["designs"]
    assert [d["design"] for d in report["designs"]] == ["knowledge", "reading"]
    assert [row["strategy"] for row in knowledge["strategies"]] == STRATEGIES
    smoke = load_config("configs/experiments/own-documents.yaml").experiment.smoke
    assert knowledge["test"] == smoke.eval_items  # the same held-out questions for every strategy
    assert all(row["n"] == knowledge["test"] for row in knowledge["strategies"] if not row["error"])
    assert not [row["error"] for row in knowledge["strategies"] if row["error"]]
    # the reading design holds whole documents out: no test question's document is learnt from
    assert 0 <= knowledge["retrieval"]["dense"] <= 1 and knowledge["retrieval"]["questions"] == knowledge["test"]
    assert report["projection"]["model"] == "qwen2.5-7b" and report["projection"]["train_seconds"] > 0
    assert report["question_report"]["kept"] >= 4
    assert report["verdict"].startswith("On these documents")
    text = (root / "runs" / "studies" / f"{folder.name}-smoke" / "study.md").read_text()
    for part in ("## Verdict", "## Design: knowledge", "## Design: reading", "Retrieval ceiling",
                 "### When the documents change", "## The same study on a larger model",
                 "## How far the questions can be trusted", "What n buys"):
        assert part in text
    assert code in (0, 1)  # 1: a strategy failed (in the reading design a smoke split may leave too few to train on)


@pytest.mark.long
def test_changed_facts_live_in_a_copy_of_the_index_and_are_asked_again(study):
    root, folder, _, report, _ = study
    changed = report["designs"][0]["changed"]
    assert changed["edits"] and set(changed["strategies"]) == set(STRATEGIES)
    copy = open_index(changed["index"], root / "indexes")
    original = open_index(report["index"]["name"], root / "indexes")
    for edit in changed["edits"]:
        assert edit["old"] != edit["new"]
        assert any(edit["new"] in copy.document_text(d) for d in copy.document_ids())
    assert sorted(copy.document_ids()) == sorted(original.document_ids())  # the same documents, some edited
    edited = [d for d in copy.document_ids() if copy.document_text(d) != original.document_text(d)]
    assert 1 <= len(edited) <= len(changed["edits"])  # the original index is untouched


@pytest.mark.long
def test_a_rerun_reuses_every_step(study):
    root, folder, _, report, _ = study
    runs = sorted((root / "runs" / "experiment-cache").glob("generator-*"))
    started = time.perf_counter()
    _, again = _study(folder, root)
    assert sorted((root / "runs" / "experiment-cache").glob("generator-*")) == runs  # nothing trained anew
    assert again["designs"] == report["designs"] and again["reindexed"] is None
    assert time.perf_counter() - started < 600


@pytest.mark.long
def test_a_killed_study_resumes_to_the_same_predictions(study, tmp_path):
    """A second study of the same folder, on the module study's questions and with nothing of it cached:
    killed as its first finetuned strategy starts, then resumed."""
    _, folder, _, report, uninterrupted = study
    arguments = ["study", str(folder), "--smoke", "--questions", report["questions"], *_flags(tmp_path),
                 "--set", "study.designs=[knowledge]"]
    variants = tmp_path / "runs" / "studies" / f"{folder.name}-smoke" / "knowledge" / "variants"
    process = subprocess.Popen([*WB, *arguments], env=_environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(list(variants.glob("*.json"))) < 3:
        assert process.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list(variants.glob("*.json"))) < len(STRATEGIES), "the study finished before it could be killed"
    assert main(arguments) == 0  # resumed in this process
    assert _predictions(tmp_path, folder, "knowledge") == uninterrupted


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """(root, folder, report, study.md) of a folder holding one short note, before a test changes the note."""
    root = tmp_path_factory.mktemp("small")
    folder = root / "tiny"
    folder.mkdir()
    (folder / "note.md").write_text(
        "# Backups\n\nThe nightly backup starts at 02:30 and keeps 14 copies on the server named `vault-7`.\n\n"
        "## Restores\n\nRestores are asked for by mail to Maria Lopez, who answers within 2 days. The restore "
        "script is `restore_from_vault.sh`; it needs the flag --verify.\n\n## Retention\n\nMonthly copies are "
        "kept for 18 months in the archive called Glacier North.\n", encoding="utf-8")
    _, report = _study(folder, root)
    return root, folder, report, (root / "runs" / "studies" / "tiny-smoke" / "study.md").read_text()


def test_a_folder_too_small_still_gets_a_report_that_says_what_n_it_had(small_study):
    _, _, report, text = small_study
    knowledge, reading = report["designs"]
    assert "two or more documents" in reading["error"]  # one document cannot be split by document
    assert knowledge["test"] >= 1 and knowledge["detectable"] is None or knowledge["detectable"] > 0
    assert "Not run:" in text and f"n = {knowledge['test']}" in text


def test_a_changed_folder_is_reindexed_and_its_questions_written_again(small_study, tmp_path):
    root, folder, report, _ = small_study
    (folder / "note.md").write_text((folder / "note.md").read_text() + "\nGlacier North is run from Reykjavik.\n")
    # What is asked of this run is the index and the questions: one strategy (an experiment a config brings) will do
    _, changed = _study(folder, root, "--config", str(own_documents_config(tmp_path, ["zero-shot"])))
    assert "The folder changed since the last study: 0 file(s) added, 1 changed, 0 removed" in changed["reindexed"]
    assert changed["questions"] != report["questions"]  # written again from the new text
