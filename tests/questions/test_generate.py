"""Questions written from a real index by the real embedded generator: kept answers sit verbatim in their
chunks, every check is counted, a killed run resumes to the same questions, and reviews never touch the
generated file."""

from __future__ import annotations

import json

import pytest

from workbench.cli.main import main
from workbench.corpus import DatasetError, QAPair, load_qa_records
from workbench.progress import Cancelled
from workbench.questions import FILTERS, Decision, read_questions, report_file
from workbench.requests import QuestionsRequest
from workbench.session import Workbench


def _request(path, **extra):
    return QuestionsRequest(index="manual", output=path, n=4, closed_book=False, **extra)


def test_a_killed_run_resumes_to_the_questions_of_an_uninterrupted_one(config, manual_index, tmp_path):
    def stop_after_first_batch(update):
        if update.stage == "writing questions" and update.done >= 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        Workbench(config).questions(_request(tmp_path / "resumed.jsonl"), progress=stop_after_first_batch)
    log = tmp_path / ".resumed.jsonl.work.jsonl"
    assert log.is_file() and len(log.read_text().splitlines()) > 1  # the finished generations are kept
    resumed, report = Workbench(config).questions(_request(tmp_path / "resumed.jsonl"))
    fresh, _ = Workbench(config).questions(_request(tmp_path / "fresh.jsonl"))
    assert [(q.question, q.answers) for q in resumed] == [(q.question, q.answers) for q in fresh]
    assert not log.exists()

    assert 0 < len(resumed) <= 4 and report.kept == len(resumed)
    for item in resumed:
        assert item.context[item.answer_start:item.answer_end] == item.answers[0]
        assert item.model == "smollm2-135m-instruct" and all(item.filters.values())
        assert item.retrieves_own_chunk in (True, False)
    written = sum(report.filters["is_question"].values())
    assert written == report.kept + len(report.rejected)  # every written question is kept or listed as rejected
    assert set(report.filters) <= set(FILTERS)
    assert all(reason in FILTERS for rejected in report.rejected for reason in rejected["failed"])
    assert sum(row["share"] for row in report.per_document.values()) == 4
    # the file is QA records every loader reads
    assert [p.question for p in load_qa_records(tmp_path / "resumed.jsonl")] == [q.question for q in resumed]


def test_review_saves_a_new_file_and_refuses_an_answer_not_in_the_chunk(config, tmp_path):
    from workbench.questions import GeneratedQuestion, write_questions

    chunk = "The default precision is 53 bits. The header file is mpfr.h."
    items = [GeneratedQuestion(id=f"q{i}", question=q, answers=[a], context=chunk, doc_id="a.md", chunk_id=0,
                               answer_start=chunk.index(a), answer_end=chunk.index(a) + len(a), answer_kind="number",
                               model="m", filters={name: True for name in FILTERS[:4]})
             for i, (q, a) in enumerate([("What is the default precision?", "53 bits"),
                                         ("Which header is included?", "mpfr.h"),
                                         ("What is the precision?", "53 bits")])]
    source = tmp_path / "questions.jsonl"
    write_questions(source, items)
    before = source.read_bytes()
    output, kept, rejected = Workbench(config).review_questions(source, {
        "q1": Decision("edited", question="Which header file does MPFR use?"), "q2": Decision("rejected")},
        tmp_path / "reviewed.jsonl")
    assert (kept, rejected) == (2, 1) and source.read_bytes() == before
    reviewed = {q.id: q for q in read_questions(output)}
    assert reviewed["q1"].question == "Which header file does MPFR use?" and reviewed["q1"].review == "edited"
    assert reviewed["q1"].original == {"question": "Which header is included?", "answer": "mpfr.h"}
    with pytest.raises(DatasetError, match="'64 bits' does not occur in the item's chunk"):
        Workbench(config).review_questions(source, {"q0": Decision("edited", answer="64 bits")}, tmp_path / "bad.jsonl")
    with pytest.raises(DatasetError, match="never changed"):
        Workbench(config).review_questions(source, {}, source)

    # a file edited by hand into an invalid state names the line and the field
    lines = source.read_text().splitlines()
    broken = json.loads(lines[1]) | {"answer_end": 3}
    (tmp_path / "broken.jsonl").write_text("\n".join([lines[0], json.dumps(broken)]) + "\n")
    with pytest.raises(DatasetError, match="line 2: answers: 'mpfr.h' is not at characters"):
        read_questions(tmp_path / "broken.jsonl")

    (train, n_train), (test, n_test) = Workbench(config).split_questions(source, 0.5, "question")
    assert n_train >= 1 and n_test >= 1 and n_train + n_test == 3
    assert not {q.id for q in read_questions(train)} & {q.id for q in read_questions(test)}
    with pytest.raises(DatasetError, match="all questions belong to one chunk"):
        Workbench(config).split_questions(source, 0.5, "chunk")


def test_the_command_line_writes_reports_reviews_and_splits(config, manual_index, tmp_path, capsys):
    output = tmp_path / "qs.jsonl"
    flags = ["--set", f"index.root={config.index.root}", "--set", f"training.output_root={config.training.output_root}",
             "--set", "generation.max_new_tokens=8"]
    assert main(["questions", "generate", "--index", "manual", "--n", "3", "--output", str(output), "--json", *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["kept"] == len(read_questions(output)) and report_file(output).is_file()
    assert printed["shares"]["answered_closed_book"] is not None  # the base model was asked closed-book
    assert main(["questions", "review", str(output)]) == 0
    assert "closed-book" in capsys.readouterr().out
    assert main(["questions", "generate", "--index", "manual", "--n", "3", "--output", str(tmp_path / "q.txt"), *flags]) == 2
    assert "give a .jsonl file" in capsys.readouterr().err


def test_paraphrases_are_questions_or_counted(config, manual_index):
    from workbench.generation import GenerationEngine, load_prompts
    from workbench.questions import paraphrase

    pairs = [QAPair("a", "What is the default precision of MPFR?", ("53 bits",)),
             QAPair("b", "Which header file does MPFR use?", ("mpfr.h",))]
    engine = GenerationEngine.from_config(config.updated({"generation.max_new_tokens": 24}), first_line_only=True)
    written, counts = paraphrase(pairs, 2, engine, load_prompts().questions)
    assert counts["asked"] == 4 and counts["written"] + counts["failed"] == 4 and len(written) == counts["written"]
    for pair in written:
        base = pair.id.split("~")[0]
        original = next(p for p in pairs if p.id == base)
        assert pair.question.endswith("?") and pair.question != original.question and pair.answers == original.answers
