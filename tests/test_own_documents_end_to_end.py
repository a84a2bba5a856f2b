"""A user's own folder of Markdown, HTML, PDF and Word files, end to end through the command line, as the
README and docs/own-documents.md tell it: index it, write questions from it, look at them, split them,
continue pretraining on the documents, train QA on top, score every strategy on the held-out questions,
and classify the documents by their folders. Smoke sizes on the real embedded models."""

from __future__ import annotations

import json

import pytest

from tests.indexing.conftest import write_docx, write_pdf
from workbench.cli.main import main
from workbench.questions import read_questions


def own_folder(root):
    """Two subfolders (the classes), each holding two files of different formats."""
    (root / "rounding").mkdir(parents=True)
    (root / "install").mkdir()
    (root / "rounding" / "modes.md").write_text(
        "# Rounding modes\n\nThe rounding mode MPFR_RNDN rounds to nearest. MPFR_RNDZ rounds toward zero, and "
        "MPFR_RNDU rounds toward plus infinity.\n\n## Precision\n\nThe default precision of a new variable is "
        "53 bits; mpfr_set_default_prec changes it.\n", encoding="utf-8")
    (root / "rounding" / "functions.html").write_bytes(
        "<html><head><meta charset=\"iso-8859-1\"><title>Functions</title></head><body>"
        "<div class=\"nav\">Next: <a href=\"a.html\">Arithmetic</a>, Previous: <a href=\"b.html\">Basics</a></div>"
        "<h1>Assignment functions</h1><p>The function <code>mpfr_set_ui</code> sets a variable from an unsigned "
        "long. Its rounding follows the mode given last, as Vincent Lefèvre's manual explains: the ternary value "
        "is 0 when the result is exact.</p></body></html>".encode("latin-1"))
    write_docx(root / "install" / "guide.docx", [
        ("h1", "Installing MPFR"),
        ("p", "MPFR needs GNU MP 5.0.0 or higher. Run ./configure --prefix=/opt/mpfr, then make and make check."),
        ("h2", "Versions"),
        ("table", [["Version", "Released"], ["4.2.0", "6 January 2023"], ["4.1.0", "10 July 2020"]])])
    write_pdf(root / "install" / "history.pdf", ["MPFR started in 1998 at INRIA in Nancy.",
                                                 "Version 4.2.1 was released on 22 August 2023."])
    return root


@pytest.mark.long
def test_a_folder_of_files_becomes_a_test_set_training_runs_scores_and_a_classifier(tmp_path, capsys):
    docs = own_folder(tmp_path / "docs")
    flags = ["--set", f"index.root={tmp_path / 'indexes'}", "--set", f"training.output_root={tmp_path / 'runs'}"]
    quick = [*flags, "--set", "training.forgetting_items=0", "--set", "training.generator.eval_generate=0",
             "--max-steps", "2", "--batch-size", "2"]

    def run(*args: str) -> dict | list:
        capsys.readouterr()
        assert main([*args, "--json"]) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    built = run("index", "build", "own", str(docs), *flags)
    assert built["added"] == 5 and not built["skipped_files"]  # a PDF is read page by page

    questions = tmp_path / "questions.jsonl"
    report = run("questions", "generate", "--index", "own", "--n", "8", "--output", str(questions),
                 "--no-closed-book", *flags)
    items = read_questions(questions)  # refuses an item whose answer is not at its span in its chunk
    assert report["kept"] == len(items) >= 4
    assert {item.doc_id.split("/")[0] for item in items} == {"rounding", "install"}  # spread over the documents
    assert len(run("questions", "review", str(questions))) == len(items)

    split = run("questions", "split", str(questions), "--test-share", "0.25", "--by", "question", *flags)
    train, test = split["train"], split["test"]
    assert split["train_questions"] + split["test_questions"] == len(items) and split["test_questions"] >= 1

    documents_run = run("train", "generator", "--format", "documents", "--index", "own",
                        "--output", str(tmp_path / "runs" / "documents"), *quick)
    assert documents_run["steps"] == 2
    qa_run = run("train", "generator", "--data", train, "--held-out", test, "--paraphrases", "1",
                 "--base", documents_run["run"], "--output", str(tmp_path / "runs" / "qa"), *quick)
    assert qa_run["steps"] >= 1
    config = json.loads((tmp_path / "runs" / "qa" / "config.json").read_text())
    assert config["options"]["base_run"] == documents_run["run"]

    scores = run("eval", "qa", "--data", test, "--strategies", "zero-shot,few-shot,rag,finetuned", "--index", "own",
                 "--adapter", str(tmp_path / "runs" / "qa"), "--output", str(tmp_path / "eval"),
                 "--max-new-tokens", "16", *flags)
    assert [s["strategy"] for s in scores] == ["zero-shot", "few-shot", "rag", "finetuned[qa]"]
    assert all(s["questions"] == split["test_questions"] for s in scores)

    classifier = run("train", "classifier", "--labels", "folder", "--index", "own", "--test-fraction", "0.5",
                     "--method", "head", "--epochs", "1", "--batch-size", "2",
                     "--output", str(tmp_path / "runs" / "classifier"), *flags)
    assert json.loads((tmp_path / "runs" / "classifier" / "config.json").read_text())["classes"] == ["install", "rounding"]
    assert 0 <= classifier["final"]["accuracy"] <= 1
