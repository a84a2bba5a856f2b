"""Every loader on a real file, the ids and metadata they give, and the bad inputs they must name."""

from __future__ import annotations

import json

import pytest

from workbench.corpus import DatasetError
from workbench.indexing import NoDocuments, load_documents


def by_id(loaded):
    return {d.id: d for d in loaded.documents}


def test_folder_loads_every_format_with_stable_ids(docs_folder):
    docs = by_id(load_documents([docs_folder], text_field="body", text_column="body"))
    assert set(docs) == {"a.txt", "notes/guide.md", "page.html", "r1", "records.jsonl#line2", "c1", "c2",
                         "paper.pdf#page1", "paper.pdf#page2"}
    assert docs["notes/guide.md"].metadata["title"] == "Guide"
    assert docs["page.html"].metadata["title"] == "Page"
    assert "Visible words about volcanoes." in docs["page.html"].text
    assert "hiddenCode" not in docs["page.html"].text and "color" not in docs["page.html"].text
    assert docs["r1"].metadata == {"id": "r1", "lang": "en", "source": str(docs_folder / "records.jsonl")}
    assert docs["c1"].text == "Cows eat grass all day." and docs["c1"].metadata["topic"] == "farm"
    assert docs["paper.pdf#page2"].metadata["page"] == 2 and "one atom thick" in docs["paper.pdf#page2"].text


def test_json_list_and_tsv(tmp_path):
    (tmp_path / "items.json").write_text(json.dumps([{"id": 7, "content": "seven"}, {"content": "eight"}]))
    (tmp_path / "rows.tsv").write_text("text\tlabel\nhello there\tgreeting\n")
    docs = by_id(load_documents([tmp_path / "items.json", tmp_path / "rows.tsv"], text_field="content"))
    assert docs["7"].text == "seven" and docs["items.json#record2"].text == "eight"
    assert docs["rows.tsv#line2"].metadata["label"] == "greeting"


def test_squad_json_gives_one_document_per_paragraph(demo_corpus):
    from workbench.corpus import DEMO_CORPUS_PATH

    docs = load_documents([DEMO_CORPUS_PATH]).documents
    assert [d.id for d in docs] == [d.id for d in demo_corpus.documents]
    assert docs[0].metadata["title"] == demo_corpus.documents[0].metadata["title"]


@pytest.mark.parametrize("name, content, problem", [
    ("empty.txt", b"  \n", "file is empty"),
    ("latin1.txt", "café".encode("latin-1"), "not valid UTF-8"),
    ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "not a readable PDF"),
    ("bad.jsonl", b'{"text": "fine"}\n{"text": oops}\n', "line 2: invalid JSON"),
    ("fields.jsonl", b'{"body": "no text field"}\n', "no text field 'text' (fields: body)"),
    ("cols.csv", b"title,body\na,b\n", "no text column 'text' (columns: title, body)"),
])
def test_bad_file_named_directly_is_an_error_naming_file_and_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        load_documents([path])
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_bad_file_in_a_folder_is_skipped_and_reported(docs_folder):
    (docs_folder / "bad.txt").write_bytes("naïve".encode("latin-1"))
    loaded = load_documents([docs_folder], text_field="body", text_column="body")
    assert [(s.path, s.reason.split(" (")[0]) for s in loaded.skipped] == [(str(docs_folder / "bad.txt"), "not valid UTF-8")]
    assert "a.txt" in by_id(loaded)


def test_no_documents_and_missing_paths(tmp_path):
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG")
    with pytest.raises(NoDocuments, match="no documents found"):
        load_documents([tmp_path])
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_documents([tmp_path / "missing.txt"])
    with pytest.raises(DatasetError, match="unsupported file type '.png'"):
        load_documents([tmp_path / "ignored.png"])


def test_pdf_without_text_layer(tmp_path, write_pdf):
    path = write_pdf(tmp_path / "scan.pdf", [""])
    with pytest.raises(DatasetError, match="no text layer"):
        load_documents([path])
