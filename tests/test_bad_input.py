"""Each class of bad input or damaged state ends in one clear message, and nothing is lost or mangled
(the fuzz tests in test_fuzz.py cover the loaders and on-disk formats at large)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from workbench.cli.main import main
from workbench.corpus import Document, load_labeled_table, read_records
from workbench.indexing import IndexCorrupt, build_index, load_documents, open_index
from workbench.models import GENERATOR, ModelUnavailable, load_generator
from workbench.models.registry import generator_cache_dir
from workbench.ondisk import exclusive

QUOTED = 'text,label\n"first line\nsecond line",pos\n"a\u2028b, and a comma",neg\nplain,pos\n'


def test_a_quoted_line_break_in_a_table_is_kept(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(QUOTED, encoding="utf-8")
    assert [row.text for row in load_labeled_table(path)] == ["first line\nsecond line", "a\u2028b, and a comma", "plain"]
    documents = load_documents([path]).documents
    assert [doc.text for doc in documents] == ["first line\nsecond line", "a\u2028b, and a comma", "plain"]
    assert [doc.id.rsplit("#", 1)[1] for doc in documents] == ["line2", "line4", "line5"]  # where each row starts


def test_a_line_separator_inside_a_json_lines_record_is_no_line_break(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "a\u2028b"}, ensure_ascii=False) + "\n{}\n", encoding="utf-8")
    assert [(where, record) for where, record in read_records(path)] == [("line 1", {"question": "a\u2028b"}),
                                                                         ("line 2", {})]


def test_an_index_whose_pointer_is_damaged_is_reported_then_rebuilt_as_the_message_says(config, embedder):
    documents = [Document("a", "Llamas carry loads in the Andes.", {"source": "a.txt"})]
    index = build_index("notes", documents, config=config)
    (index.path / "CURRENT").write_text("../../etc")
    with pytest.raises(IndexCorrupt, match=r"index 'notes' is damaged: .*CURRENT: points to '../../etc'.*wb index build"):
        open_index("notes", config.index.root)
    build_index("notes", documents, config=config)
    assert open_index("notes", config.index.root).document_ids() == ["a"]


@pytest.mark.parametrize("flag, value, message", [
    ("--head-learning-rate", "nan", "Input should be a finite number"),
    ("--learning-rate", "inf", "Input should be a finite number"),
    ("--epochs", "0", "greater than 0"),
])
def test_non_finite_or_non_positive_settings_are_refused_before_training(flag, value, message, tmp_path, capsys):
    assert main(["train", "classifier", "--demo", flag, value, "--output", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["ask", "Why?", "--max-new-tokens", "0"], "--max-new-tokens: generation.max_new_tokens: Input should be greater than 0"),
    (["ask", "Why?", "--strategy", "rag", "--k", "0"], "--k: retrieval.k: Input should be greater than 0"),
])
def test_answer_settings_are_checked_where_they_enter(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_empty_folder_is_no_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="not a model folder"):
        load_generator(str(tmp_path / "empty"))
    assert main(["ask", "Why?", "--model", str(tmp_path / "empty")]) == 2


def test_an_unexpected_exception_is_one_line_and_a_log_for_a_bug_report(monkeypatch, tmp_path, capsys):
    """The crash handler itself is under test, so the failure is planted in the command it runs."""
    from workbench.session import Workbench

    def broken(session):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.setattr(Workbench, "list_models", broken)
    assert main(["models", "list"]) == 70
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "internal error (ZeroDivisionError: division by zero)" in err and "report" in err
    [log] = (tmp_path / "logs").iterdir()
    assert str(log) in err and "Traceback" in log.read_text() and "wb models list" in log.read_text()


def test_a_second_prepare_waits_for_the_first_instead_of_removing_its_work(generator):
    """`wb models prepare` holds a lock: a second one waits, then finds the model ready."""
    lock = generator_cache_dir().parent / f".{GENERATOR}.lock"
    with exclusive(lock):
        waiting = subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "models", "prepare"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        assert waiting.poll() is None  # still waiting for the lock
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert str(generator_cache_dir()) in out
