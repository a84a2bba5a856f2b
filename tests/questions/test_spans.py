"""Candidate answers picked in a chunk: what a reader asks about, each exactly where it sits."""

from workbench.questions.generate import _proportional, passage
from workbench.questions.spans import candidate_spans

CHUNK = ("## Installing\n\nRun `make install` after `./configure --prefix=/opt/mpfr`. The default precision is "
         "53 bits; the header is mpfr.h. MPFR_RNDN rounds to nearest. Paul Zimmermann released it on "
         "6 January 2023 in Nancy.\n\n| Mode | Meaning |\n| --- | --- |\n| MPFR_RNDU | toward plus infinity |")


def test_spans_are_where_they_say_and_of_the_kinds_asked_about():
    spans = candidate_spans(CHUNK)
    assert all(CHUNK[s.start:s.end] == s.text for s in spans)
    kinds = {s.text: s.kind for s in spans}
    assert kinds["make install"] == "identifier" and kinds["MPFR_RNDN"] == "identifier"
    assert kinds["53 bits"] == "number" and kinds["6 January 2023"] == "date"
    assert kinds["Paul Zimmermann"] == "name" and kinds["Nancy"] == "name"
    assert "MPFR_RNDU" in kinds  # a table body cell
    assert not {"Installing", "Mode", "Meaning"} & set(kinds)  # headings and table headers are layout
    assert len(kinds) == len(spans)  # each span once


def test_shares_follow_text_length_within_what_each_document_can_give():
    assert _proportional(10, {"long": 300, "short": 100}, {"long": 50, "short": 50}) == {"long": 8, "short": 2}
    # a document that runs out passes the rest of its share to the others
    assert _proportional(10, {"long": 300, "short": 100}, {"long": 50, "short": 1}) == {"long": 9, "short": 1}
    assert sum(_proportional(7, {"a": 1, "b": 1, "c": 1}, {"a": 9, "b": 9, "c": 9}).values()) == 7


def test_the_passage_is_the_answers_sentence_and_its_neighbours_on_one_line():
    [span] = [s for s in candidate_spans(CHUNK) if s.text == "53 bits"]
    text = passage(CHUNK, span, limit=80)
    assert "The default precision is 53 bits; the header is mpfr.h." in text and "\n" not in text


def test_the_plan_says_which_documents_are_too_short_and_when_fewer_questions_are_possible(config):
    from workbench.corpus import Document
    from workbench.indexing import build_index
    from workbench.questions.generate import plan

    index = build_index("short", [Document("empty.md", "just words here, nothing to ask about."),
                                  Document("rich.md", "MPFR_RNDN rounds to nearest; mpfr_set_ui sets it. Released in 2023.")],
                        config=config)
    queues, shares, notes = plan(index, 50, seed=0)
    assert shares["empty.md"] == 0 and 0 < shares["rich.md"] == len(queues["rich.md"]) < 50
    assert any("no candidate answer" in note and "empty.md" in note for note in notes)
    assert any(f"holds {len(queues['rich.md'])} candidate answers" in note and "fewer than the 50" in note for note in notes)
