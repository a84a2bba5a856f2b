"""The `wb index`, `wb search` and `wb eval retrieval` commands, end to end through `main`."""

from __future__ import annotations

import json

from workbench.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_build_search_info_list_remove_eval(capsys, tmp_path, docs_folder, demo_corpus):
    root = f"index.root={tmp_path / 'indexes'}"
    code, out, _ = run(capsys, "index", "build", "docs", str(docs_folder), "--text-field", "body",
                       "--text-column", "body", "--chunk-size", "300", "--set", root, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["added"] == 9 and summary["skipped_files"] == []

    code, out, _ = run(capsys, "search", "docs", "what do cows eat", "-k", "2", "--set", root, "--json")
    assert code == 0 and json.loads(out)[0]["doc_id"] == "c1"
    code, out, _ = run(capsys, "search", "docs", "animals", "--filter", "lang=fr", "--set", root, "--json")
    assert [h["doc_id"] for h in json.loads(out)] == ["records.jsonl#line2"]

    code, out, _ = run(capsys, "index", "info", "docs", "--set", root, "--json")
    assert json.loads(out)["settings"]["chunk_size"] == 300
    code, out, _ = run(capsys, "index", "list", "--set", root)
    assert "docs" in out and "minilm" in out

    code, out, _ = run(capsys, "index", "remove", "docs", "c1", "--set", root)
    assert code == 0 and "1 removed" in out
    code, _, err = run(capsys, "index", "remove", "docs", "c1", "--set", root)
    assert code == 2 and "has no document 'c1'" in err

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "Where do penguins live?", "answer": "south",
                              "context": "Penguins live in the southern hemisphere."}) + "\n")
    code, out, _ = run(capsys, "eval", "retrieval", "--index", "docs", "--data", str(qa), "--k", "1,3",
                       "--set", root, "--json")
    assert code == 0 and json.loads(out)["recall@1"] == 1.0


def test_errors_are_one_line_messages(capsys, tmp_path):
    root = f"index.root={tmp_path / 'indexes'}"
    code, _, err = run(capsys, "search", "missing", "query", "--set", root)
    assert code == 2 and err.startswith("wb: error: no index named 'missing'")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = run(capsys, "index", "build", "x", str(empty), "--set", root)
    assert code == 2 and f"{empty}: file is empty" in err
    code, _, err = run(capsys, "index", "build", "x", "--set", root)
    assert code == 2 and "give either PATH... or --demo" in err
