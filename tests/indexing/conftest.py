"""Fixtures for the indexing tests: small real files of every supported format, and a few demo
paragraphs to index with the real embedder (kept small: the whole directory runs in about a minute)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal valid PDF with one text line per page (Helvetica), for the pypdf loader."""
    page_ids = [3 + 2 * i for i in range(len(pages))]
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids), len(pages))}
    font = 3 + 2 * len(pages)
    for page_id, text in zip(page_ids, pages):
        content = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1")
        objects[page_id] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (page_id + 1, font))
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
    objects[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    out, offsets = b"%PDF-1.4\n", []
    for number in sorted(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(out)
    return path


@pytest.fixture(name="write_pdf")
def write_pdf_fixture():
    return write_pdf


@pytest.fixture
def docs_folder(tmp_path) -> Path:
    """One readable file of each format, in a folder with a subfolder."""
    folder = tmp_path / "docs"
    (folder / "notes").mkdir(parents=True)
    (folder / "a.txt").write_text("Llamas are domesticated South American camelids.\n", encoding="utf-8")
    (folder / "notes" / "guide.md").write_text(
        "# Guide\nIntro.\n\n## Install\nRun pip install workbench.\n\n## Usage\nCall wb search.\n", encoding="utf-8")
    (folder / "page.html").write_text(
        "<html><head><title>Page</title><style>p{color:red}</style></head>"
        "<body><p>Visible words about volcanoes.</p><script>hiddenCode()</script></body></html>", encoding="utf-8")
    (folder / "records.jsonl").write_text(
        json.dumps({"id": "r1", "body": "Penguins live in the southern hemisphere.", "lang": "en"}) + "\n"
        + json.dumps({"body": "Les pingouins vivent au nord.", "lang": "fr"}) + "\n", encoding="utf-8")
    (folder / "table.csv").write_text("id,body,topic\nc1,Cows eat grass all day.,farm\nc2,Ships sail the seas.,sea\n",
                                      encoding="utf-8")
    write_pdf(folder / "paper.pdf", ["Graphene conducts electricity.", "It is one atom thick."])
    return folder


@pytest.fixture(scope="session")
def few_documents(demo_corpus):
    """Twelve demo paragraphs: two articles, enough to search and filter, quick to embed."""
    titles = demo_corpus.topics()[:2]
    return [d for d in demo_corpus.documents if d.metadata["title"] in titles and d.metadata["paragraph"] < 6]
