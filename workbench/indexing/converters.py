"""Users' files as Markdown text: headings, lists and tables kept, so that chunking can follow sections
and a reader sees what a person sees. One converter per kind of file, looked up by suffix in `CONVERTERS`.

- HTML, Word (.docx) and PowerPoint (.pptx) go through markitdown (Microsoft; mammoth for Word,
  python-pptx for slides, markdownify for HTML). Chosen over docling, trafilatura and unstructured on
  real manuals (bench/results/documents.md): the best retrieval recall, 4 to 7 times faster than
  docling on HTML, and no text lost before a page's first heading (docling files it as page furniture).
- HTML is decoded first (UTF-8, else the charset the page declares), its navigation removed (the
  HTML5/ARIA landmarks and the navigation blocks of common documentation generators, when they are
  mostly links), and a large page is converted in parts, so time and memory grow with the page and
  progress can be shown.
- PDF stays on pypdf, one document per page (in indexing/loaders.py): markitdown's PDF text layer
  (pdfminer) ran the words of a real specification together.
- Legacy binary Office files (.doc, .ppt) are refused with how to convert them.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.corpus import DatasetError

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
OFFICE_SUFFIXES = frozenset({".docx", ".pptx"})
LEGACY_OFFICE = {
    ".doc": "a legacy Word 97-2003 file (.doc): save it as .docx (Word: File > Save As; LibreOffice: "
            "`soffice --headless --convert-to docx FILE`)",
    ".ppt": "a legacy PowerPoint 97-2003 file (.ppt): save it as .pptx (PowerPoint: File > Save As; "
            "LibreOffice: `soffice --headless --convert-to pptx FILE`)",
}
HTML_PART_BYTES = 1_000_000  # a larger page is converted in parts of about this size (markdownify slows down
#                              faster than linearly on one large tree: 50 MB took 217 s and 2.0 GB whole, 78 s and 1.3 GB in parts)

# markdownify options: keep identifiers as written (mpfr_set_ui, not mpfr\_set\_ui), drop images and link
# targets (their text stays), and emphasis markers, which would split an answer span in two.
_MARKDOWN_OPTIONS = {"escape_underscores": False, "escape_asterisks": False, "strip": ["a", "img", "em", "strong", "i", "b"]}
_INVISIBLE = ("script", "style", "noscript", "template", "head", "iframe", "svg")
# Navigation blocks by name: HTML5/ARIA landmarks, and the classes and ids documentation generators give
# them (texinfo's nav-panel and header, DocBook's navheader/navfooter, gtk-doc's navigation table,
# Sphinx's related bar, Doxygen's nav-path, Javadoc's top navigation). Removed only when mostly links.
_NAVIGATION_NAMES = re.compile(r"(^|[\s_-])(nav|navigation|navbar|nav-panel|navheader|navfooter|navpath|nav-path|"
                               r"breadcrumbs?|related|topnav|subnav|header|footer|menu|sidebar|skip-?links?)($|[\s_-])",
                               re.IGNORECASE)
_NAVIGATION_LINK_SHARE = 0.5  # of the block's text inside links
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BLANK_LINES = re.compile(r"\n{3,}")
_PILCROW = re.compile(r"[ \t]*¶")  # documentation generators' copy-link anchors, left after the link is stripped
_EDGE_RULES = re.compile(r"^(\s*(-{3,}|\*{3,}|_{3,})\s*\n)+|(\n\s*(-{3,}|\*{3,}|_{3,})\s*)+$")
_DECLARED_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass(frozen=True)
class Converted:
    text: str  # Markdown
    title: str | None  # the page's <title>, else its first heading


Done = Callable[[float], None]  # hears the share of a file converted so far (0 to 1)
Converter = Callable[[Path, "Done | None"], Converted]


def convert_html(path: Path, done: Done | None = None) -> Converted:
    """An HTML page as Markdown without its scripts, styles and navigation; `done` hears the share
    converted after each part."""
    import lxml.html

    data = _read_bytes(path)
    root = lxml.html.document_fromstring(_XML_DECLARATION.sub("", decode_html(data, path)))
    title = (root.findtext(".//title") or "").strip() or None
    for element in [*root.iter(*_INVISIBLE), *(e for e in root.iter() if _is_navigation(e))]:
        _drop(element)
    parts = list(_parts(root.body, HTML_PART_BYTES))
    pieces = []
    for number, part in enumerate(parts, start=1):
        pieces.append(_markdown_of_html(part))
        if done is not None:
            done(number / len(parts))
    text = tidy("\n\n".join(pieces))
    if not text:
        raise DatasetError(path, "no visible text in the HTML")
    return Converted(text, title or _first_heading(text))


def decode_html(data: bytes, path: Path) -> str:
    """The page's text: UTF-8 (with or without a byte-order mark), else the charset it declares."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    declared = _DECLARED_CHARSET.search(data[:4096])
    if declared is None:
        raise DatasetError(path, f"not valid UTF-8 (byte {utf8_error}) and the page declares no charset; "
                                 "add <meta charset=\"...\"> or convert the file to UTF-8")
    charset = declared.group(1).decode("ascii")
    try:
        return data.decode(charset)
    except LookupError:
        raise DatasetError(path, f"the page declares an unknown charset '{charset}'") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not valid {charset} as the page declares (byte {exc.start})") from None


def convert_office(path: Path, done: Done | None = None) -> Converted:
    """A Word (.docx) or PowerPoint (.pptx) file as Markdown; images are dropped (no OCR)."""
    from markitdown import StreamInfo
    from markitdown.converters import DocxConverter, PptxConverter

    data = _read_bytes(path)
    kind = "Word" if path.suffix.lower() == ".docx" else "PowerPoint"
    if not zipfile.is_zipfile(io.BytesIO(data)):
        hint = " (an encrypted Office file is not a zip archive: remove its password first)" if data[:4] == b"\xd0\xcf\x11\xe0" else ""
        raise DatasetError(path, f"not a readable {kind} file{hint}")
    converter = DocxConverter() if kind == "Word" else PptxConverter()
    try:
        result = converter.convert(io.BytesIO(data), StreamInfo(extension=path.suffix.lower()), **_MARKDOWN_OPTIONS)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DatasetError(path, f"not a readable {kind} file ({type(exc).__name__}: {exc})") from None
    if done is not None:
        done(1.0)
    text = tidy(result.text_content or "")
    if not text:
        raise DatasetError(path, f"the {kind} file has no text (only images? they would need OCR first)")
    return Converted(text, _first_heading(text))


CONVERTERS: dict[str, Converter] = {**{s: convert_html for s in HTML_SUFFIXES},
                                    **{s: convert_office for s in OFFICE_SUFFIXES}}


def tidy(markdown: str) -> str:
    """Converter output without image references, HTML comments (slide markers), copy-link pilcrows,
    trailing spaces, runs of blank lines and horizontal rules at its edges."""
    text = _PILCROW.sub("", _COMMENT.sub("", _IMAGE.sub("", markdown)))
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _EDGE_RULES.sub("", _BLANK_LINES.sub("\n\n", text).strip()).strip()


def _markdown_of_html(html: str) -> str:
    from markitdown.converters import HtmlConverter

    return HtmlConverter().convert_string(html, **_MARKDOWN_OPTIONS).text_content or ""


def _parts(body, limit: int) -> Iterator[str]:
    """The body's HTML in consecutive parts of about `limit` bytes, split between its top-level elements
    (one element larger than `limit` is split between its own children)."""
    import lxml.html

    part: list[str] = []
    size = 0
    for child in _leaves(body, limit):
        html = lxml.html.tostring(child, encoding="unicode") if not isinstance(child, str) else child
        if part and size + len(html) > limit:
            yield "<body>" + "".join(part) + "</body>"
            part, size = [], 0
        part.append(html)
        size += len(html)
    if part:
        yield "<body>" + "".join(part) + "</body>"


def _leaves(element, limit: int) -> Iterator:
    """`element`'s text and children in document order, descending into a child larger than `limit`."""
    import lxml.html

    if element.text and element.text.strip():
        yield f"<p>{_escape(element.text)}</p>"
    for child in element:
        if not isinstance(child.tag, str):  # a comment or processing instruction
            if child.tail and child.tail.strip():
                yield f"<p>{_escape(child.tail)}</p>"
            continue
        if len(child) and len(lxml.html.tostring(child)) > limit:
            tail, child.tail = child.tail, None
            yield from _leaves(child, limit)
            if tail and tail.strip():
                yield f"<p>{_escape(tail)}</p>"
        else:
            yield child


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_navigation(element) -> bool:
    if not isinstance(element.tag, str):
        return False
    if element.tag == "nav" or element.get("role") == "navigation":
        return True
    names = f"{element.get('class', '')} {element.get('id', '')}"
    if element.tag in ("body", "html") or not _NAVIGATION_NAMES.search(names):
        return False
    text = element.text_content().strip()
    linked = sum(len(a.text_content().strip()) for a in element.iter("a"))
    return not text or linked / len(text) >= _NAVIGATION_LINK_SHARE


def _drop(element) -> None:
    """Remove `element` but keep the text that follows it (lxml stores it on the element as its tail)."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _first_heading(markdown: str) -> str | None:
    heading = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", markdown, flags=re.MULTILINE)
    return heading.group(1).strip() if heading else None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror})") from None
    if not data.strip():
        raise DatasetError(path, "file is empty")
    return data
