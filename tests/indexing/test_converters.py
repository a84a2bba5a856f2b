"""Files people bring, as Markdown: manuals' navigation gone, inline markup kept on its line, headings
and tables kept, Word and PowerPoint read, declared charsets honoured, and each refusal naming the file."""

from __future__ import annotations

import pytest

from workbench.corpus import DatasetError
from workbench.indexing import NoDocuments, converters, load_documents
from workbench.indexing.converters import convert_html, convert_office

# The shape of a texinfo manual page (GNU manuals, MPFR): a navigation panel, a numbered heading, a
# function signature spread over inline elements, a table.
MANUAL_PAGE = """<!DOCTYPE html><html><head><title>Assignment Functions (GNU MPFR)</title>
<style>body {color: black}</style></head><body>
<div class="nav-panel"><p>Next: <a href="b.html">Combined Functions</a>, Previous: <a href="a.html">Initialization
Functions</a>, Up: <a href="i.html">MPFR Interface</a> &nbsp; [<a href="x.html" title="Index">Index</a>]</p></div>
<hr><h4 class="section">5.2 Assignment Functions</h4>
<p>These functions assign new values to already initialized floats.</p>
<dl class="first-deftypefn"><dt class="deftypefn"><span class="category-def">Function: </span><span><code
class="def-type">int</code> <strong class="def-name">mpfr_set_ui</strong> <code class="def-code-arguments">(mpfr_t
<var class="var">rop</var>, unsigned long int <var class="var">op</var>)</code><a class="copiable-link" href="#x"> &para;</a></span></dt>
<dd><p>Set the value of <var class="var">rop</var> from <var class="var">op</var>.</p></dd></dl>
<table><tr><th>Mode</th><th>Meaning</th></tr><tr><td>MPFR_RNDN</td><td>round to nearest</td></tr></table>
<script>tracking()</script></body></html>"""


def test_a_manual_page_loses_its_navigation_and_keeps_signatures_headings_and_tables(tmp_path):
    page = tmp_path / "Assignment-Functions.html"
    page.write_text(MANUAL_PAGE, encoding="utf-8")
    converted = convert_html(page)
    assert converted.title == "Assignment Functions (GNU MPFR)"
    assert "Next:" not in converted.text and "Previous:" not in converted.text and "Index" not in converted.text
    assert "tracking" not in converted.text and "color" not in converted.text
    assert "#### 5.2 Assignment Functions" in converted.text
    [signature] = [line for line in converted.text.splitlines() if "mpfr_set_ui" in line]
    assert signature.replace("`", "") == "Function: int mpfr_set_ui (mpfr_t rop, unsigned long int op)"  # one line
    assert "| MPFR_RNDN | round to nearest |" in converted.text
    assert "¶" not in converted.text and "\\_" not in converted.text
    assert converted.text.startswith("####")  # the rule under the navigation went with it


def test_text_before_the_first_heading_and_a_few_links_in_prose_are_kept(tmp_path):
    page = tmp_path / "post.html"
    page.write_text("<html><body><p>An introduction that comes first: see <a href='x'>the guide</a>.</p>"
                    "<nav><a href='/'>Home</a> <a href='/b'>Blog</a></nav><h2>Details</h2><p>Body text.</p>"
                    "<div class='footer'>Written by Ada, 2024. <a href='/c'>Contact</a></div></body></html>")
    text = convert_html(page).text
    assert text.startswith("An introduction that comes first: see the guide.")
    assert "Home" not in text and "Blog" not in text
    assert "## Details" in text and "Written by Ada, 2024." in text  # a footer of prose is no navigation


def test_a_page_in_its_declared_charset_is_read_and_an_undeclared_one_is_named(tmp_path):
    latin = tmp_path / "latin.html"
    latin.write_bytes('<html><head><meta charset="iso-8859-1"></head><body><p>Café résumé</p></body></html>'.encode("latin-1"))
    assert convert_html(latin).text == "Café résumé"
    unknown = tmp_path / "unknown.html"
    unknown.write_bytes("<html><body><p>Café</p></body></html>".encode("latin-1"))
    with pytest.raises(DatasetError, match="not valid UTF-8 .* declares no charset") as caught:
        convert_html(unknown)
    assert str(unknown) in str(caught.value)


def test_a_large_page_is_converted_in_parts_with_progress_and_nothing_lost(tmp_path, monkeypatch):
    page = tmp_path / "big.html"
    paragraphs = [f"Paragraph number {i} of a long page." for i in range(200)]
    page.write_text("<html><body><div class='content'>" + "".join(f"<p>{p}</p>" for p in paragraphs)
                    + "</div></body></html>")
    whole = convert_html(page).text
    monkeypatch.setattr(converters, "HTML_PART_BYTES", 800)
    shares: list[float] = []
    in_parts = convert_html(page, shares.append).text
    assert in_parts.split() == whole.split() == " ".join(paragraphs).split()
    assert len(shares) > 5 and shares == sorted(shares) and shares[-1] == 1.0


def test_word_files_become_markdown_with_their_headings_and_tables(tmp_path, write_docx):
    path = write_docx(tmp_path / "guide.docx", [
        ("h1", "Installing"), ("p", "Run make install_all first."), ("h2", "Options"),
        ("table", [["Flag", "Effect"], ["--fast", "skips checks"]])])
    [document] = load_documents([path]).documents
    assert document.id == "guide.docx" and document.metadata["title"] == "Installing"
    assert document.text.startswith("# Installing\n\nRun make install_all first.\n\n## Options")
    assert "| --fast | skips checks |" in document.text


def test_powerpoint_slides_are_read(tmp_path):
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text = "Revenue grew by 12 percent."
    deck.save(tmp_path / "results.pptx")
    text = load_documents([tmp_path / "results.pptx"]).documents[0].text
    assert "# Quarterly results" in text and "Revenue grew by 12 percent." in text and "Slide number" not in text


@pytest.mark.parametrize("name, content, problem", [
    ("report.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "legacy Word 97-2003 file (.doc): save it as .docx"),
    ("deck.ppt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "save it as .pptx"),
    ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "remove its password first"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "not a readable Word file"),
])
def test_office_files_that_cannot_be_read_say_why(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        load_documents([path])
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_a_word_file_of_images_only_is_skipped_in_a_folder_with_the_reason(tmp_path, write_docx):
    folder = tmp_path / "scans"
    folder.mkdir()
    write_docx(folder / "scan.docx", [("image", ""), ("image", "")])
    (folder / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(60))
    with pytest.raises(NoDocuments) as caught:
        load_documents([folder])
    message = str(caught.value)
    assert "scan.docx: the Word file has no text (only images?" in message and "old.doc: a legacy Word" in message


def test_password_protected_pdfs(tmp_path, write_pdf):
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(tmp_path / "plain.pdf", ["Secret plans for the launch."])
    for name, user_password in (("locked.pdf", "open sesame"), ("owner-only.pdf", "")):
        writer = PdfWriter(clone_from=PdfReader(plain))
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
        writer.write(tmp_path / name)
    with pytest.raises(DatasetError, match="password-protected: remove the password"):
        load_documents([tmp_path / "locked.pdf"])
    assert "Secret plans" in load_documents([tmp_path / "owner-only.pdf"]).documents[0].text


def test_reading_reports_progress_in_bytes(docs_folder):
    updates = []
    load_documents([docs_folder], text_field="body", text_column="body", progress=updates.append)
    total = sum(p.stat().st_size for p in docs_folder.rglob("*") if p.is_file())
    assert {u.stage for u in updates} == {"reading"} and updates[-1].done == updates[-1].total == total
    assert [u.done for u in updates] == sorted(u.done for u in updates)


def test_convert_office_refuses_what_is_not_office(tmp_path):
    path = tmp_path / "notes.docx"
    path.write_text("plain text named .docx")
    with pytest.raises(DatasetError, match="not a readable Word file"):
        convert_office(path)
