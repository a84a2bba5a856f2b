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


_DOCX_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
               '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
               '<Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/>'
               '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
               '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>')
_DOCX_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_DOCX_STYLES = (f'<?xml version="1.0" encoding="UTF-8"?><w:styles {_W}>'
                + "".join(f'<w:style w:type="paragraph" w:styleId="Heading{n}"><w:name w:val="heading {n}"/></w:style>' for n in (1, 2))
                + '</w:styles>')


_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5e1f4a80000000049454e44ae426082")
_IMAGE_RUN = ('<w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing">'
              '<wp:extent cx="9525" cy="9525"/><wp:docPr id="1" name="Picture 1" descr=""/>'
              '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
              '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
              '<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:nvPicPr><pic:cNvPr id="1" name="scan.png"/>'
              '<pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
              'r:embed="rIdImage"/></pic:blipFill><pic:spPr/></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>')


def write_docx(path: Path, blocks: list) -> Path:
    """A minimal Word file: each block is ("h1" | "h2" | "p", text), ("table", [[cell, ...], ...]) or
    ("image", "") (a one-pixel picture, as in a scanned page)."""
    import zipfile
    from xml.sax.saxutils import escape

    def paragraph(text: str, style: str | None = None) -> str:
        properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        return f"<w:p>{properties}<w:r><w:t xml:space=\"preserve\">{escape(text)}</w:t></w:r></w:p>"

    body = []
    for kind, content in blocks:
        if kind == "image":
            body.append(f"<w:p>{_IMAGE_RUN}</w:p>")
        elif kind == "table":
            rows = "".join("<w:tr>" + "".join(f"<w:tc>{paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>" for row in content)
            body.append(f"<w:tbl>{rows}</w:tbl>")
        else:
            body.append(paragraph(content, {"h1": "Heading1", "h2": "Heading2"}.get(kind)))
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document {_W}><w:body>{"".join(body)}</w:body></w:document>'
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", _DOCX_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", document)
        archive.writestr("word/styles.xml", _DOCX_STYLES)
        archive.writestr("word/media/scan.png", _PNG)
        archive.writestr("word/_rels/document.xml.rels",
                         '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                         '<Relationship Id="rIdImage" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
                         'Target="media/scan.png"/></Relationships>')
    return path


@pytest.fixture(name="write_docx")
def write_docx_fixture():
    return write_docx
