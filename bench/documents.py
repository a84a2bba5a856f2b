"""Documents written by others, as workbench reads them: HTML, PDF and Word manuals converted to text,
indexed, and asked 66 hand-written questions; then the same files through other converters.

Measured:
- A. Retrieval before and after the move to Markdown (69a8ac7). Before: HTML as BeautifulSoup's
  `get_text("\\n")` without script/style/noscript/template/head (the old loader, reproduced here as
  `html_text_before`), PDF pages through pypdf (unchanged), Word refused (its questions are misses).
  After: `Workbench.index` on the files as shipped (lxml navigation removal + markitdown for
  HTML and Word, pypdf per page for PDF), with the default recursive splitter and with the markdown
  splitter. Default chunking, embedder and hybrid retrieval; recall@1/3/5 and per document.
- B. Converters compared: markitdown, docling (body only, as exported by default, and with its
  "furniture" layer), trafilatura and unstructured, each with its defaults, run by this script in
  another interpreter (`--converters-python`), plus workbench's shipped pipeline. Per file type:
  seconds, failures, and signals read off the Markdown (texinfo "Next:" navigation lines kept,
  headings, table rows, escaped underscores, evidence sentences present), then recall@3 when that
  converter's Markdown is indexed the same way. A small probe page checks whether text before a
  page's first heading survives.
- Dependency weight: what `pip install` would add to workbench's environment for each converter
  (`pip install --dry-run --report`; sizes of the wheels fetched with `pip download --no-deps`).
- A 50 MB HTML page (the MPFR pages' bodies repeated) through workbench's `convert_html`, markitdown
  whole-page and docling: seconds and peak RSS, each in its own process.

Run: .venv/bin/python bench/documents.py --converters-python /tmp/convvenv/bin/python [--skip-slow]
(writes bench/results/documents.md and documents.json; about 15 min on 2 cores with --skip-slow, which
skips docling on the 50 MB page, about 10 min more). Without --converters-python, table B and the
other converters' 50 MB runs are skipped with a note; --report-only rewrites the .md from the .json.
The converters' interpreter needs docling, markitdown[all], trafilatura and unstructured (and
lxml_html_clean for trafilatura); it runs this file as `--convert-with NAME --root DIR --out DIR FILE...`,
a mode that imports nothing from workbench (except for NAME=workbench, run in workbench's own
interpreter). Offline: HF_HUB_OFFLINE=1 is set.

The documents (fetched with `apt-get download` from Debian 12 and unpacked with `dpkg-deb -x` into
bench/data/manuals/files/, git-ignored; skipped when already there):
- mpfr.html/: the GNU MPFR 4.2.0 manual, 48 texinfo HTML pages (libmpfr-doc 4.2.0-1). Copyright
  1991, 1993-2023 Free Software Foundation, Inc. (the manual's notice); the documentation is under the
  GNU Free Documentation License 1.2 or later, with no Invariant Sections, no Front-Cover Texts and no
  Back-Cover Texts (usr/share/doc/libmpfr-doc/copyright).
- shared-mime-info-spec.pdf: the Shared MIME-info Database specification 0.21, 17 pages
  (shared-mime-info 2.2-1); GPL-2+ per usr/share/doc/shared-mime-info/copyright (Copyright (C) 2002,
  2003 Thomas Leonard).
- PreviSat_en.docx: the PreviSat 3.5 user manual in English (previsat 3.5.1.7+dfsg1-5); Copyright
  2005-2014 Fabrice Dupré (Astropedia), GPL-3.0+ per usr/share/doc/previsat/copyright.
Questions: bench/data/manuals/questions.jsonl (24 MPFR, 20 MIME spec, 22 PreviSat; id, document,
question, answers, evidence). A hit is a retrieved chunk of the question's file (base name, ignoring
"#pageN" and a converter's ".md") containing one of the answers (case-insensitive, whitespace
normalized).
"""

# Only the standard library at module level: the --convert-with mode runs in other interpreters.
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "documents.md"
RESULTS_JSON = ROOT / "results" / "documents.json"
MANUALS = ROOT / "data" / "manuals"
FILES = MANUALS / "files"
QUESTIONS = MANUALS / "questions.jsonl"
DEBIAN_PACKAGES = ("libmpfr-doc=4.2.0-1", "shared-mime-info=2.2-1", "previsat=3.5.1.7+dfsg1-5")
KEEP = {"mpfr.html": "usr/share/doc/libmpfr-doc/mpfr.html",  # what is kept of the unpacked packages
        "shared-mime-info-spec.pdf": "usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
        "PreviSat_en.docx": "usr/share/Astropedia/PreviSat/doc/PreviSat_en.docx"}
GROUPS = {"mpfr": "HTML", "mime": "PDF", "previsat": "DOCX"}  # question id prefix -> file type
KINDS = {".html": "HTML", ".pdf": "PDF", ".docx": "DOCX"}
KS = (1, 3, 5)
COMPARED = ("markitdown", "docling", "docling+furniture", "trafilatura", "unstructured")
DISTRIBUTIONS = {"workbench": "markitdown", "markitdown": "markitdown", "docling": "docling",
                 "docling+furniture": "docling", "trafilatura": "trafilatura", "unstructured": "unstructured"}
DEPENDENCIES = ("markitdown[docx,pptx]", "docling", "docling-slim[format-html,format-docx,format-pptx]",
                "trafilatura", "unstructured[docx,pptx,pdf]")
CUDA_STACK = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")
LARGE_PAGE_BYTES = 50_000_000
DOCLING_50MB_EARLIER = "measured once, 564 s, 6 GB peak (an earlier run on this machine)"
CONVERT_TIMEOUT_S = 1800
CONVERT_ROUNDS = 3  # table B: each file converted this many times in turn, the best time counts
PROBE_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Probe</title></head><body>
<p>This introduction comes before any heading and names the frobnicator setting.</p>
<h1>Settings</h1><p>The frobnicator is off by default.</p></body></html>"""
PROBE_SENTENCE = "this introduction comes before any heading"
_OLD_INVISIBLE_HTML = ("script", "style", "noscript", "template", "head")  # the loader before 69a8ac7
_NAV_LINE = re.compile(r"^[\s>*_#\[|-]*Next:", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
_TABLE_RULE = re.compile(r"^[ \t]*\|[\s:|-]*-[\s:|-]*\|[ \t]*$", re.MULTILINE)
_MARKUP = re.compile(r"[\\`*_#>|\[\]]")
_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--converters-python", type=Path, help="an interpreter with docling, markitdown, "
                        "trafilatura and unstructured (table B; skipped without it)")
    parser.add_argument("--skip-slow", action="store_true", help="skip docling on the 50 MB page (about 10 min)")
    parser.add_argument("--report-only", action="store_true", help="rewrite documents.md from documents.json")
    parser.add_argument("--convert-with", help=argparse.SUPPRESS)  # internal: one converter, in its interpreter
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.convert_with:
        convert_files(args.convert_with, args.paths, args.root, args.out, args.rounds)
        return
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.report_only:
        results = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
        RESULTS.write_text("\n".join(report(results, questions)) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")
        return
    os.environ["HF_HUB_OFFLINE"] = "1"
    sources = fetch_documents()
    results: dict = {"date": time.strftime("%Y-%m-%d"), "questions": len(questions),
                     "load_average_start": os.getloadavg()[0],
                     "converters_python": str(args.converters_python) if args.converters_python else None,
                     "skip_slow": args.skip_slow}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["before_after"] = before_after(sources, questions, tmp / "a")
        print("table A done", flush=True)
        results["converters"] = compare_converters(args.converters_python, sources, questions,
                                                   results["before_after"], tmp / "b")
        print("table B done", flush=True)
        results["dependencies"] = dependency_weight(tmp / "deps")
        print("dependency weight done", flush=True)
        results["large_page"] = large_page(args.converters_python, args.skip_slow, sources[0], tmp / "large")
    results["load_average_end"] = os.getloadavg()[0]
    RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    RESULTS.write_text("\n".join(report(results, questions)) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS} and {RESULTS_JSON}")


# ---------------------------------------------------------------- the documents

def fetch_documents() -> list[Path]:
    """The three sources under bench/data/manuals/files/, downloaded and unpacked when missing."""
    targets = [FILES / name for name in KEEP]
    if all(path.exists() for path in targets):
        return targets
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching {', '.join(DEBIAN_PACKAGES)} with apt-get download", flush=True)
        subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=tmp, check=True)
        unpacked = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        FILES.mkdir(parents=True, exist_ok=True)
        for name, inside in KEEP.items():
            source = unpacked / inside
            if source.is_dir():
                shutil.copytree(source, FILES / name, dirs_exist_ok=True)
            else:
                shutil.copy2(source, FILES / name)
    return targets


def source_files(sources: list[Path]) -> list[Path]:
    """Every file of the sources (the MPFR folder's pages, sorted)."""
    return [p for s in sources for p in (sorted(s.glob("*.html")) if s.is_dir() else [s])]


def html_text_before(markup: str) -> tuple[str, str]:
    """The baseline: workbench's HTML extraction before 69a8ac7 (`_html_visible_text`), verbatim."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_OLD_INVISIBLE_HTML):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return title, text


def documents_before(sources: list[Path]) -> list:
    """The sources as the loader before 69a8ac7 read them: HTML through `html_text_before` (ids relative
    to the folder), PDF pages through pypdf (the same code path then and now), .docx refused."""
    from workbench.corpus import Document
    from workbench.indexing import load_documents

    documents = []
    for source in sources:
        if source.is_dir():
            for path in sorted(source.rglob("*.html")):
                title, text = html_text_before(path.read_text(encoding="utf-8-sig"))
                documents.append(Document(path.relative_to(source).as_posix(), text,
                                          {"source": str(path), "title": title or path.stem}))
        elif source.suffix.lower() == ".pdf":
            documents += load_documents([source]).documents
    return documents


# ---------------------------------------------------------------- retrieval

def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def file_of(name: str) -> str:
    """'mpfr.html/Rounding.html' -> 'Rounding.html'; 'x.pdf#page3' -> 'x.pdf'; 'x.docx.md' -> 'x.docx'."""
    return name.split("#")[0].removesuffix(".md").rsplit("/", 1)[-1]


def first_hit(question: dict, hits) -> int | None:
    """Rank of the first chunk from the question's file that contains one of its answers."""
    want, answers = file_of(question["document"]), [_norm(a) for a in question["answers"]]
    for rank, hit in enumerate(hits, start=1):
        if file_of(hit.doc_id) == want and any(a in _norm(hit.text) for a in answers):
            return rank
    return None


def evaluate(index, questions: list[dict]) -> dict:
    """Recall@k overall and hits per document group, with each question's first-hit rank."""
    hits = index.search_many([q["question"] for q in questions], max(KS))
    ranks = {q["id"]: first_hit(q, h) for q, h in zip(questions, hits)}
    info = index.info()
    return {**summarize(ranks, questions), "chunks": info["chunks"], "documents": info["documents"]}


def summarize(ranks: dict[str, int | None], questions: list[dict]) -> dict:
    found = lambda q, k: ranks.get(q["id"]) is not None and ranks[q["id"]] <= k  # noqa: E731
    by_group = {group: {"total": sum(q["id"].startswith(group) for q in questions),
                        **{f"@{k}": sum(found(q, k) for q in questions if q["id"].startswith(group)) for k in KS}}
                for group in GROUPS}
    return {**{f"recall@{k}": round(sum(found(q, k) for q in questions) / len(questions), 3) for k in KS},
            "by_document": by_group, "ranks": ranks}


def index_config(root: Path, splitter: str | None = None):
    """The default configuration with its index root (and splitter) changed; read once per run."""
    base = _default_config()
    chunking = base.chunking.model_copy(update={"splitter": splitter}) if splitter else base.chunking
    return base.model_copy(update={"index": base.index.model_copy(update={"root": Path(root)}), "chunking": chunking})


@functools.cache
def _default_config():
    from workbench.config import load_config

    return load_config()


def before_after(sources: list[Path], questions: list[dict], tmp: Path) -> dict:
    """Table A: the old extraction, the shipped loaders, and the shipped loaders with the markdown splitter."""
    from workbench.indexing import build_index, load_documents
    from workbench.requests import IndexRequest
    from workbench.session import Workbench

    before_s, before_docs = _best_of(2, lambda: documents_before(sources))
    after_s, _ = _best_of(2, lambda: load_documents(sources))
    rows = {}
    index = build_index("before", before_docs, config=index_config(tmp / "before"))
    rows["before"] = {**evaluate(index, questions), "load_seconds": round(before_s, 2)}
    for name, splitter in (("after", None), ("after, markdown splitter", "markdown")):
        config = index_config(tmp / name.replace(" ", "_").replace(",", ""), splitter)
        index = Workbench(config).index(IndexRequest(name="manuals", paths=sources))
        rows[name] = {**evaluate(index, questions), "load_seconds": round(after_s, 2)}
        print(f"{name}: recall@3 {rows[name]['recall@3']}", flush=True)
    return rows


def _best_of(rounds: int, fn):
    best, value = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


# ---------------------------------------------------------------- converters compared

def compare_converters(python: Path | None, sources: list[Path], questions: list[dict], before_after_rows: dict,
                       tmp: Path) -> dict:
    """Table B: each converter on the same files in its own process, signals read off its Markdown, and
    recall when its Markdown is indexed (workbench's row: its shipped pipeline, from table A)."""
    files = source_files(sources)
    probe = tmp / "probe" / "probe-text-before-heading.html"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(PROBE_HTML, encoding="utf-8")
    rows = {"source": {"signals": source_signals(files)},
            "bs4 get_text (before)": before_row(files, questions, before_after_rows["before"])}
    names = ["workbench", *(COMPARED if python else ())]
    for name in names:
        out = tmp / "markdown" / name
        run = run_converter(sys.executable if name == "workbench" else python, name, [probe, *files], FILES, out,
                            CONVERT_ROUNDS)
        rows[name] = converter_row(run, out, probe, questions, tmp / "indexes" / name,
                                   before_after_rows["after"] if name == "workbench" else None)
        print(f"{name}: {rows[name].get('recall@3')}", flush=True)
    return rows


def run_converter(python: Path | str, name: str, files: list[Path], root: Path, out: Path, rounds: int = 1) -> dict:
    """This script's --convert-with mode in `python`; its report (or the error that stopped it)."""
    command = [str(python), str(Path(__file__).resolve()), "--convert-with", name, "--root", str(root),
               "--out", str(out), "--rounds", str(rounds), *map(str, files)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CONVERT_TIMEOUT_S} s", "files": {}}
    report_path = out.parent / f"{out.name}.json"
    if done.returncode != 0 or not report_path.is_file():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:200]}", "files": {}}
    return json.loads(report_path.read_text(encoding="utf-8"))


def kind_of(name: str) -> str:
    return KINDS.get(Path(file_of(name)).suffix.lower(), "other")


def converter_row(run: dict, out: Path, probe: Path, questions: list[dict], index_root: Path,
                  shipped: dict | None) -> dict:
    files = {n: f for n, f in run.get("files", {}).items() if n != probe.name}
    texts = {n: (out / f"{n}.md").read_text(encoding="utf-8") for n in files if (out / f"{n}.md").is_file()}
    by_kind = {}
    for kind in KINDS.values():
        names = [n for n in files if kind_of(n) == kind]
        failed = {n: files[n]["error"] for n in names if files[n]["error"]}
        seconds, size = sum(files[n]["seconds"] for n in names), sum(files[n]["bytes"] for n in names)
        by_kind[kind] = {"files": len(names), "failed": len(failed), "errors": sorted(set(failed.values()))[:2],
                         "notes": sorted({note for n in names for note in files[n].get("notes", [])})[:2],
                         "seconds": round(seconds, 2), "mb": round(size / 1e6, 3),
                         "seconds_per_mb": (round(seconds / (size / 1e6), 2)
                                            if size and len(failed) < len(names) else None),
                         "signals": signals({n: t for n, t in texts.items() if kind_of(n) == kind}),
                         "evidence": evidence_found(texts, questions, kind)}
    probe_result = run.get("files", {}).get(probe.name, {})
    probe_text = out / f"{probe.name}.md"
    row = {"version": run.get("version"), "error": run.get("error"), "init_seconds": run.get("init_seconds"),
           "peak_rss_mb": run.get("peak_rss_mb"), "by_kind": by_kind,
           "text_before_heading_kept": probe_text.is_file() and PROBE_SENTENCE in _norm(probe_text.read_text()),
           "probe_error": probe_result.get("error")}
    if shipped is not None:
        return {**row, **{k: v for k, v in shipped.items() if k != "load_seconds"},
                "indexed": "shipped loaders (table A, after)"}
    paths = [p for p in (out / "mpfr.html", out / "shared-mime-info-spec.pdf.md", out / "PreviSat_en.docx.md")
             if p.exists()]
    if not paths:
        return {**row, **summarize({}, questions), "chunks": 0, "documents": 0, "indexed": "no output"}
    from workbench.requests import IndexRequest
    from workbench.session import Workbench

    index = Workbench(index_config(index_root)).index(IndexRequest(name="manuals", paths=paths))
    return {**row, **evaluate(index, questions), "indexed": "its Markdown"}


def before_row(files: list[Path], questions: list[dict], before: dict) -> dict:
    """The old HTML extraction, timed here on the HTML pages, for reference in table B."""
    pages = [p for p in files if p.suffix == ".html"]
    seconds, texts = _best_of(2, lambda: {f"mpfr.html/{p.name}": html_text_before(p.read_text(encoding="utf-8"))[1]
                                          for p in pages})
    size = sum(p.stat().st_size for p in pages)
    return {**{k: v for k, v in before.items() if k != "load_seconds"},
            "version": f"beautifulsoup4 {_version('beautifulsoup4')}", "by_kind": {"HTML": {
        "files": len(pages), "failed": 0, "errors": [], "notes": [], "seconds": round(seconds, 2),
        "mb": round(size / 1e6, 3), "seconds_per_mb": round(seconds / (size / 1e6), 2),
        "signals": signals(texts), "evidence": evidence_found(texts, questions, "HTML")}},
        "text_before_heading_kept": PROBE_SENTENCE in _norm(html_text_before(PROBE_HTML)[1])}


def signals(texts: dict[str, str]) -> dict:
    """What a converter's Markdown kept: texinfo "Next:" navigation lines, headings and table rows
    (outside fenced code), and the underscores it escaped."""
    joined = "\n".join(texts.values())
    prose = _FENCED.sub("", joined)  # a C example's "# define" is no heading
    return {"next_lines": len(_NAV_LINE.findall(prose)), "headings": len(_HEADING.findall(prose)),
            "table_rows": len(_TABLE_ROW.findall(prose)) - len(_TABLE_RULE.findall(prose)),
            "escaped_underscores": joined.count("\\_"), "chars": len(joined)}


def source_signals(files: list[Path]) -> dict:
    """The same counts in the sources: "Next:" lines of the old text, h1-h6 and <tr> in the HTML,
    heading-styled paragraphs and <w:tr> in the Word file (PDF has no structure to count)."""
    import lxml.html

    pages = [p for p in files if p.suffix == ".html"]
    trees = [lxml.html.parse(str(p)).getroot() for p in pages]
    old = "\n".join(html_text_before(p.read_text(encoding="utf-8"))[1] for p in pages)
    counts = {"HTML": {"next_lines": len(_NAV_LINE.findall(old)),
                       "headings": sum(len(t.xpath("//h1|//h2|//h3|//h4|//h5|//h6")) for t in trees),
                       "table_rows": sum(len(t.xpath("//tr")) for t in trees)}}
    for docx in (p for p in files if p.suffix == ".docx"):
        counts["DOCX"] = _docx_counts(docx)
    return counts


def _docx_counts(path: Path) -> dict:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        body = archive.read("word/document.xml").decode("utf-8")
        styles = archive.read("word/styles.xml").decode("utf-8")
    names = dict(re.findall(r'<w:style\b[^>]*w:styleId="([^"]+)"[^>]*>\s*<w:name w:val="([^"]+)"', styles))
    headings = {sid for sid, name in names.items() if re.fullmatch(r"(?i)heading \d|title", name)}
    used = re.findall(r'<w:pStyle w:val="([^"]+)"', body)
    return {"headings": sum(style in headings for style in used), "table_rows": len(re.findall(r"<w:tr[ >]", body))}


def evidence_found(texts: dict[str, str], questions: list[dict], kind: str) -> dict:
    """Questions of this file type whose evidence sentence is in the converter's text of their file
    (Markdown punctuation and escapes ignored on both sides)."""
    plain = lambda t: _norm(_MARKUP.sub(" ", t))  # noqa: E731
    by_file: dict[str, str] = {}
    for name, text in texts.items():
        by_file[file_of(name)] = by_file.get(file_of(name), "") + "\n" + plain(text)
    mine = [q for q in questions if GROUPS[q["id"].split("-")[0]] == kind]
    return {"found": sum(plain(q["evidence"]) in by_file.get(file_of(q["document"]), "") for q in mine),
            "total": len(mine)}


# ---------------------------------------------------------------- --convert-with (any interpreter)

def convert_files(name: str, paths: list[Path], root: Path, out: Path, rounds: int = 1) -> None:
    """Convert `paths` with converter `name`, `rounds` times in turn; Markdown to OUT/<path relative to
    ROOT>.md, and to OUT.json a report: per file the best time of the rounds (the first round's too, with a
    library's lazy set-up), size, error, and the process's peak RSS. Imports nothing from workbench unless
    name is workbench."""
    import warnings

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    convert = _converter(name)
    version = _version(DISTRIBUTIONS[name])
    if name == "workbench":
        version = f"markitdown {version}, pypdf {_version('pypdf')}"
    summary = {"converter": name, "version": version, "rounds": rounds,
               "init_seconds": round(time.perf_counter() - started, 2), "files": {}}
    for _ in range(rounds):  # in turn, so that a busy moment of the machine does not hit one file's every round
        for path in paths:
            relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
            text, error, seconds, notes = _convert_one(convert, path)
            if relative in summary["files"]:
                entry = summary["files"][relative]
                entry["seconds"] = min(entry["seconds"], round(seconds, 3))
                continue
            summary["files"][relative] = {"seconds": round(seconds, 3), "first_seconds": round(seconds, 3),
                                          "bytes": path.stat().st_size, "chars": len(text), "error": error,
                                          "notes": notes}
            if text.strip():
                target = out / f"{relative}.md"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    summary["peak_rss_mb"] = peak_rss_mb()
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / f"{out.name}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


def _convert_one(convert, path: Path) -> tuple[str, str | None, float, list[str]]:
    """(Markdown, error, seconds, what the libraries logged about downloads and failures)."""
    notes = _Notes()
    logging.getLogger().addHandler(notes)
    logging.getLogger().setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        text, error = convert(path) or "", None
    except Exception as exc:  # noqa: BLE001 - a converter's failure is a result here
        text, error = "", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
    seconds = time.perf_counter() - started
    logging.getLogger().removeHandler(notes)
    if error is None and not text.strip():
        error = "empty output"
    return text, error, seconds, notes.messages[:3]


def peak_rss_mb() -> int:
    """This process's peak resident memory in MB: VmHWM, which starts afresh at exec. (getrusage's
    ru_maxrss does not: on Linux a child started from this 1.6 GB benchmark reports at least 1.6 GB.)"""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(re.search(r"^VmHWM:\s*(\d+) kB", status, re.MULTILINE).group(1)) / 1024)
    except (OSError, AttributeError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


class _Notes(logging.Handler):
    """Log lines that explain an empty result (a model download tried, a step that failed)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0][:160] if record.getMessage() else ""
        if re.search(r"download|fail", message, re.IGNORECASE) and message not in self.messages:
            self.messages.append(message)


def _converter(name: str):
    """A function from a path to Markdown, each library called with its defaults."""
    if name == "workbench":
        from workbench.indexing import load_documents
        from workbench.indexing.converters import CONVERTERS

        def shipped(path: Path) -> str:
            if path.suffix.lower() in CONVERTERS:
                return CONVERTERS[path.suffix.lower()](path, None).text
            return "\n\n".join(doc.text for doc in load_documents([path]).documents)  # PDF: pypdf, per page
        return shipped
    if name == "markitdown":
        from markitdown import MarkItDown

        markitdown = MarkItDown(enable_plugins=False)
        return lambda path: markitdown.convert(str(path)).text_content
    if name in ("docling", "docling+furniture"):
        from docling.document_converter import DocumentConverter
        from docling_core.types.doc import ContentLayer

        docling = DocumentConverter()
        layers = {ContentLayer.BODY} | ({ContentLayer.FURNITURE} if name.endswith("furniture") else set())
        return lambda path: docling.convert(path).document.export_to_markdown(included_content_layers=layers)
    if name == "trafilatura":
        import trafilatura

        def extract(path: Path) -> str:
            if path.suffix.lower() not in (".html", ".htm"):
                raise ValueError("HTML only")
            return trafilatura.extract(path.read_bytes(), output_format="markdown", include_tables=True,
                                       include_formatting=True, favor_recall=True) or ""
        return extract
    if name == "unstructured":
        from unstructured.partition.auto import partition
        from unstructured.staging.base import elements_to_md

        return lambda path: elements_to_md(partition(filename=str(path), strategy="fast"))
    raise SystemExit(f"unknown converter {name}")


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


# ---------------------------------------------------------------- dependency weight

def dependency_weight(tmp: Path) -> dict:
    """Per converter: the packages `pip install` would add to (or change in) workbench's environment, and
    their wheels' size. markitdown is already a workbench dependency: its row counts the packages
    nothing else in workbench requires."""
    tmp.mkdir(parents=True, exist_ok=True)
    rows = {}
    for spec in DEPENDENCIES:
        report_path = tmp / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report_path),
                        spec], check=True, capture_output=True)
        items = [(i["metadata"]["name"], i["metadata"]["version"], i["download_info"]["url"])
                 for i in json.loads(report_path.read_text())["install"]]
        note = None
        if not items and spec.startswith("markitdown"):
            items = [(n, v, None) for n, v in _only_required_by("markitdown", ["docx", "pptx"])]
            note = "installed with workbench: the packages only it requires"
        rows[spec] = _weigh(items, tmp / "wheels")
        rows[spec]["note"] = note
        print(f"{spec}: {len(items)} packages, {rows[spec]['mb']} MB", flush=True)
    return rows


def _weigh(items: list[tuple[str, str, str | None]], wheels: Path) -> dict:
    """Wheel sizes: local files as they are, the others fetched with `pip download --no-deps`."""
    from importlib.metadata import PackageNotFoundError, version

    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    sizes, remote = {}, []
    for name, ver, url in items:
        if url and url.startswith("file://"):
            sizes[name] = Path(unquote(urlparse(url).path)).stat().st_size
        else:
            remote.append((name, ver, url))
    if remote:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--quiet", "-d",
                        str(wheels), *(f"{n} @ {u}" if u else f"{n}=={v}" for n, v, u in remote)],
                       check=True, capture_output=True)
        downloaded = {_dist_key(p.name): p.stat().st_size for p in wheels.iterdir()}
        for name, ver, _ in remote:
            sizes[name] = downloaded.get(_dist_key(f"{name}-{ver}"), 0)
    changed = []
    for name, ver, _ in items:
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if installed != ver:
            changed.append(f"{name} {installed} → {ver}")
    cuda = [n for n, _, _ in items if CUDA_STACK.match(n.lower())]
    return {"packages": len(items), "mb": round(sum(sizes.values()) / 1e6, 1),
            "torch_cuda_mb": round(sum(sizes[n] for n in cuda) / 1e6, 1), "torch_cuda_packages": len(cuda),
            "changes_installed": changed, "sizes": {n: sizes[n] for n, _, _ in items}}


def _dist_key(filename: str) -> str:
    """'python_docx-1.2.0-py3-none-any.whl' and 'python-docx-1.2.0' -> 'python_docx-1.2.0'."""
    name, _, rest = filename.partition("-")
    while rest and not rest[0].isdigit():  # names with dashes: python-docx-1.2.0
        more, _, rest = rest.partition("-")
        name = f"{name}-{more}"
    ver = rest.split("-")[0].removesuffix(".tar.gz").removesuffix(".zip")
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{ver}"


def _only_required_by(distribution: str, extras: list[str]) -> list[tuple[str, str]]:
    """(name, version) of the installed packages in `distribution`'s requirement closure that no other
    requirement of workbench pulls in."""
    from importlib.metadata import distribution as dist_of
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def requirements(name: str, extras: set[str]) -> list[Requirement]:
        found = []
        for line in dist_of(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in {"", *extras}):
                found.append(requirement)
        return found

    def closure(roots: list[Requirement]) -> set[str]:
        seen: dict[str, set[str]] = {}
        todo = list(roots)
        while todo:
            requirement = todo.pop()
            key = canonicalize_name(requirement.name)
            if _version(requirement.name) is None or (key in seen and set(requirement.extras) <= seen[key]):
                continue
            seen.setdefault(key, set()).update(requirement.extras)
            todo += requirements(requirement.name, seen[key])
        return set(seen)

    workbench = [r for r in requirements("workbench", set()) if canonicalize_name(r.name) != distribution]
    mine = closure([Requirement(f"{distribution}[{','.join(extras)}]")]) - closure(workbench)
    return sorted((name, version(name)) for name in mine)


# ---------------------------------------------------------------- a 50 MB page

def build_large_page(folder: Path, target: Path) -> Path:
    """The MPFR pages' bodies, repeated in order until the page reaches LARGE_PAGE_BYTES."""
    bodies = [re.search(r"<body[^>]*>(.*)</body>", p.read_text(encoding="utf-8"), re.DOTALL | re.IGNORECASE).group(1)
              for p in sorted(folder.glob("*.html"))]
    parts, size, number = [], 0, 0
    while size < LARGE_PAGE_BYTES:
        body = bodies[number % len(bodies)]
        parts.append(body)
        size += len(body.encode("utf-8"))
        number += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>MPFR manual, repeated</title>'
                      "</head><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    return target


def large_page(python: Path | None, skip_slow: bool, folder: Path, tmp: Path) -> dict:
    """Seconds and peak RSS of converting one 50 MB page, each converter in its own process."""
    page = build_large_page(folder, tmp / "page" / "mpfr-50mb.html")
    rows = {"bytes": page.stat().st_size, "runs": {}}
    runs = [("workbench", sys.executable)] + ([("markitdown", python), ("docling", python)] if python else [])
    for name, interpreter in runs:
        if name == "docling" and skip_slow:
            rows["runs"][name] = {"skipped": f"--skip-slow; {DOCLING_50MB_EARLIER}"}
            continue
        print(f"50 MB page: {name}", flush=True)
        run = run_converter(interpreter, name, [page], page.parent, tmp / name)
        result = run.get("files", {}).get(page.name, {})
        rows["runs"][name] = {"seconds": result.get("seconds"), "peak_rss_mb": run.get("peak_rss_mb"),
                              "chars": result.get("chars"), "error": result.get("error") or run.get("error")}
        shutil.rmtree(tmp / name, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- the report

def report(results: dict, questions: list[dict]) -> list[str]:
    a, b = results["before_after"], results["converters"]
    totals = {g: sum(q["id"].startswith(g) for q in questions) for g in GROUPS}
    lines = [
        "# Documents: HTML, PDF and Word manuals written by others\n",
        f"{results['date']}, 2 CPU cores (1-minute load average {results['load_average_start']:.1f} at the start, "
        f"{results['load_average_end']:.1f} at the end: timings are of a shared machine). Produced by "
        "`bench/documents.py`; rerun with "
        "`.venv/bin/python bench/documents.py --converters-python /tmp/convvenv/bin/python` (add `--skip-slow` to "
        "skip docling on the 50 MB page).\n",
        "Three real manuals, fetched by the script with `apt-get download` from Debian 12 (bookworm) and unpacked "
        "into `bench/data/manuals/files/` (git-ignored):\n",
        "- `mpfr.html/`: the GNU MPFR 4.2.0 manual, 48 texinfo HTML pages (0.58 MB), package libmpfr-doc 4.2.0-1. "
        "Copyright 1991, 1993-2023 Free Software Foundation, Inc. (the manual's notice); the documentation is under "
        "the GNU Free Documentation License 1.2 or later, with no Invariant Sections, no Front-Cover Texts and no "
        "Back-Cover Texts (the package's copyright file).",
        "- `shared-mime-info-spec.pdf`: the Shared MIME-info Database specification 0.21, 17 pages (0.14 MB), "
        "package shared-mime-info 2.2-1; GPL-2+ per its Debian copyright file (Copyright (C) 2002, 2003 "
        "Thomas Leonard).",
        "- `PreviSat_en.docx`: the PreviSat 3.5 user manual (3.5 MB, mostly screenshots), package previsat "
        "3.5.1.7+dfsg1-5; Copyright 2005-2014 Fabrice Dupré (Astropedia), GPL-3.0+ per its Debian copyright file.\n",
        f"{len(questions)} hand-written questions (`bench/data/manuals/questions.jsonl`: {totals['mpfr']} MPFR, "
        f"{totals['mime']} MIME spec, {totals['previsat']} PreviSat), each with its answers and the sentence that "
        "holds them. A hit: a retrieved chunk of the question's file that contains one of the answers "
        "(case-insensitive, whitespace normalized). Default settings: recursive splitter, 800 characters, "
        "minilm, hybrid retrieval, top 5.\n",
        "## A. Retrieval before and after\n",
        "Before (ed828b6): HTML as BeautifulSoup `get_text(\"\\n\")` without script/style/noscript/template/head, "
        "PDF pages through pypdf, Word files refused (their questions count as misses). After: the shipped loaders "
        "(HTML decoded and its navigation removed with lxml, then markitdown; Word through markitdown; PDF pages "
        "through pypdf). Load: reading and converting the files (best of 2), before indexing; the after rows include "
        "the Word file, which the before row refused.\n",
        "| extraction | documents | chunks | load s | recall@1 | recall@3 | recall@5 | MPFR (HTML) @1/@3/@5 | "
        "MIME spec (PDF) @1/@3/@5 | PreviSat (DOCX) @1/@3/@5 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"before": "before: bs4 text, pypdf, no .docx", "after": "after (shipped)",
              "after, markdown splitter": "after, `chunking.splitter=markdown`"}
    for name, row in a.items():
        groups = " | ".join(_group_cell(row, g) for g in GROUPS)
        lines.append(f"| {labels[name]} | {row['documents']} | {row['chunks']} | {row['load_seconds']:.1f} | "
                     f"{row['recall@1']:.3f} | {row['recall@3']:.3f} | {row['recall@5']:.3f} | {groups} |")
    lines += [""] + table_b(b, results["converters_python"]) + dependency_table(results["dependencies"])
    lines += large_page_table(results["large_page"]) + why_markitdown(results)
    return lines


def _group_cell(row: dict, group: str) -> str:
    counts = row["by_document"][group]
    return f"{counts['@1']} / {counts['@3']} / {counts['@5']} of {counts['total']}"


def table_b(rows: dict, python: str | None) -> list[str]:
    lines = ["## B. Converters compared\n"]
    if python is None:
        lines.append("Skipped: run with `--converters-python PATH` (an interpreter with docling, markitdown, "
                     "trafilatura and unstructured) to compare converters. Workbench's own row:\n")
    lines += [
        "Each library with its defaults (markitdown `MarkItDown().convert`; docling `DocumentConverter` then "
        "`export_to_markdown()`, body layer only, and with its furniture layer too; trafilatura `extract(..., "
        "output_format=\"markdown\", include_tables, include_formatting, favor_recall)`, HTML only; unstructured "
        "`partition(strategy=\"fast\")` then `elements_to_md`), run in its own process, offline "
        "(`HF_HUB_OFFLINE=1`). Seconds: converting the files of that type, each file's best of "
        f"{CONVERT_ROUNDS} conversions taken in turn (start-up and a library's lazy set-up excluded: the machine is "
        "shared). `Next:` lines: the texinfo navigation bars kept (the source row counts them in the old text). "
        "Headings, table rows: Markdown `#` lines and table rows, against the source's h1-h6 / `<tr>` (Word: "
        "heading-styled paragraphs / `<w:tr>`). `\\_`: escaped underscores (`mpfr\\_set` for `mpfr_set`). "
        "Evidence: questions whose evidence sentence is in the output of its file (Markdown punctuation ignored). "
        "Recall@3: that converter's Markdown indexed like table A (workbench: its shipped pipeline, table A's "
        "after row), questions of that file type; a file it failed on leaves its questions unanswerable. Peak RSS: "
        "the converting process's VmHWM.\n",
        "| converter | type | failed | s | s/MB | `Next:` lines | headings | table rows | `\\_` | evidence | recall@3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    source = rows["source"]["signals"]
    lines.append(f"| *source* | HTML (48 pages) | | | | {source['HTML']['next_lines']} | {source['HTML']['headings']} | "
                 f"{source['HTML']['table_rows']} | | | |")
    if "DOCX" in source:
        lines.append(f"| *source* | DOCX | | | | | {source['DOCX']['headings']} | {source['DOCX']['table_rows']} | | | |")
    errors = []
    for name, row in rows.items():
        if name == "source":
            continue
        for kind, cell in row["by_kind"].items():
            group = next(g for g, k in GROUPS.items() if k == kind)
            counts = row["by_document"][group]
            s = cell["signals"]
            nav = s["next_lines"] if kind == "HTML" else ""
            per_mb = f"{cell['seconds_per_mb']:.2f}" if cell["seconds_per_mb"] is not None else ""
            lines.append(f"| {name} | {kind} | {cell['failed']}/{cell['files']} | {cell['seconds']:.1f} | {per_mb} | "
                         f"{nav} | {s['headings']} | {s['table_rows']} | {s['escaped_underscores']} | "
                         f"{cell['evidence']['found']}/{cell['evidence']['total']} | {counts['@3']}/{counts['total']} |")
            for message in cell["errors"] + [f"logged: {n}" for n in cell["notes"]]:
                errors.append(f"- {name}, {kind}: {message[:150]}")
    lines += ["", "Failures and what the libraries logged about them:\n", *(errors or ["- none"]), ""]
    lines += ["Per converter, all 66 questions:\n",
              "| converter | version | start-up s | peak RSS MB | chunks | recall@1 | recall@3 | recall@5 | "
              "text before the first heading kept |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if name == "source":
            continue
        version = row.get("version") or ""
        startup = f"{row['init_seconds']:.1f}" if row.get("init_seconds") is not None else ""
        rss = row.get("peak_rss_mb") or ""
        failed = (row.get("probe_error") or "").split(":")[0]
        kept = "yes" if row.get("text_before_heading_kept") else "no" + (f" (failed: {failed})" if failed else "")
        lines.append(f"| {name} | {version} | {startup} | {rss} | {row['chunks']} | {row['recall@1']:.3f} | "
                     f"{row['recall@3']:.3f} | {row['recall@5']:.3f} | {kept} |")
    lines += ["", "The probe: a page whose first paragraph comes before its first `<h1>` "
              "(\"This introduction comes before any heading ...\").", ""]
    return lines


def dependency_table(rows: dict) -> list[str]:
    lines = ["## Dependency weight\n",
             "What `pip install --dry-run --report` would add to workbench's environment (Python 3.11, torch "
             "2.13.0+cpu already there); sizes of the wheels pip would fetch (from the report's URLs: local files, or "
             "fetched with `pip download --no-deps`). markitdown is already installed with workbench: its row counts "
             "the packages that only it requires.\n",
             "| install | packages | wheels MB | of which torch + CUDA | largest | changes to installed packages |",
             "|---|---|---|---|---|---|"]
    for spec, row in rows.items():
        cuda = (f"{row['torch_cuda_mb']:.0f} MB ({row['torch_cuda_packages']} packages)"
                if row["torch_cuda_packages"] else "none")
        changes = "; ".join(row["changes_installed"]) or "none"
        name = f"`{spec}`" + (f" ({row['note']})" if row.get("note") else "")
        biggest = sorted(row["sizes"].items(), key=lambda item: -item[1])[:3]
        largest = ", ".join(f"{n} {size / 1e6:.0f}" if size >= 1e7 else f"{n} {size / 1e6:.1f}" for n, size in biggest)
        lines.append(f"| {name} | {row['packages']} | {row['mb']:.1f} | {cuda} | {largest} | {changes} |")
    return lines + [""]


def large_page_table(rows: dict) -> list[str]:
    lines = [f"## A {rows['bytes'] / 1e6:.0f} MB HTML page\n",
             "The 48 MPFR pages' bodies repeated until 50 MB, one page; each converter in its own process "
             "(peak RSS of that process).\n",
             "| converter | seconds | peak RSS GB | Markdown MB | |", "|---|---|---|---|---|"]
    labels = {"workbench": "workbench `convert_html` (navigation removed, converted in 1 MB parts)",
              "markitdown": "markitdown, whole page", "docling": "docling"}
    for name, run in rows["runs"].items():
        if "skipped" in run:
            lines.append(f"| {labels[name]} | | | | skipped: {run['skipped']} |")
            continue
        seconds = f"{run['seconds']:.0f}" if run.get("seconds") is not None else ""
        rss = f"{run['peak_rss_mb'] / 1024:.1f}" if run.get("peak_rss_mb") else ""
        chars = f"{run['chars'] / 1e6:.1f}" if run.get("chars") else ""
        lines.append(f"| {labels[name]} | {seconds} | {rss} | {chars} | {run.get('error') or ''} |")
    return lines + [""]


def why_markitdown(results: dict) -> list[str]:
    a, b, deps = results["before_after"], results["converters"], results["dependencies"]
    hits = lambda row, group: f"{row['by_document'][group]['@3']}/{row['by_document'][group]['total']}"  # noqa: E731
    wb = b["workbench"]
    text = (f"On these 66 questions the shipped pipeline reaches recall@3 {a['after']['recall@3']:.2f}, against "
            f"{a['before']['recall@3']:.2f} with the old extraction (MPFR {hits(a['before'], 'mpfr')} → "
            f"{hits(a['after'], 'mpfr')}; the Word manual, refused before, {hits(a['after'], 'previsat')}; the PDF "
            f"unchanged at {hits(a['after'], 'mime')}).")
    if "markitdown" in b:
        md = b["markitdown"]
        html, pdf = md["by_kind"]["HTML"], md["by_kind"]["PDF"]
        text += (f" markitdown called as a library keeps the texinfo navigation ({html['signals']['next_lines']} "
                 f"`Next:` lines) and escapes underscores ({html['signals']['escaped_underscores']} `\\_` in the "
                 f"HTML): MPFR recall@3 {hits(md, 'mpfr')} against {hits(wb, 'mpfr')} once lxml has removed the "
                 "navigation and escaping is off, as workbench calls it. Its PDF path (pdfminer) ran the "
                 f"specification's words together: {pdf['evidence']['found']}/{pdf['evidence']['total']} evidence "
                 f"sentences left intact against {wb['by_kind']['PDF']['evidence']['found']}/"
                 f"{pdf['evidence']['total']} with pypdf, recall@3 {hits(md, 'mime')} against {hits(wb, 'mime')}, "
                 "so PDF stays on pypdf.")
    if "docling" in b:
        dl = b["docling"]
        pdf_failed = dl["by_kind"]["PDF"]["failed"]
        html, word = (_ratio(dl["by_kind"][kind]["seconds"], wb["by_kind"][kind]["seconds"]) for kind in ("HTML", "DOCX"))
        text += (f" docling found {hits(dl, 'mpfr')} MPFR and {hits(dl, 'previsat')} PreviSat answers in the top 3 "
                 f"(workbench: {hits(wb, 'mpfr')} and {hits(wb, 'previsat')}) and took {html} workbench's time on the "
                 f"HTML pages and {word} on the Word file, after a {dl['init_seconds']:.0f} s start-up; by default it drops text that comes "
                 "before a page's first heading (the probe: "
                 f"{'kept' if dl['text_before_heading_kept'] else 'dropped'})")
        text += (", and its PDF pipeline fetches layout models from the Hugging Face hub, so offline it failed."
                 if pdf_failed else ".")
    if "trafilatura" in b:
        tf = b["trafilatura"]["by_kind"]["HTML"]
        source = b["source"]["signals"]["HTML"]
        text += (f" trafilatura reads HTML only; it kept the navigation ({tf['signals']['next_lines']} `Next:` lines) "
                 f"but {tf['signals']['headings']} of {source['headings']} headings and {tf['signals']['table_rows']} of "
                 f"{source['table_rows']} table rows (MPFR recall@3 {hits(b['trafilatura'], 'mpfr')}).")
    if "unstructured" in b:
        us = b["unstructured"]["by_kind"]
        failed, total = sum(c["failed"] for c in us.values()), sum(c["files"] for c in us.values())
        text += (f" unstructured failed on {failed} of {total} files offline: it downloads a spaCy model at run time "
                 "(on the PDF it logged the failure and returned nothing).")
    if deps:
        weight = lambda spec: f"{deps[spec]['mb']:.0f} MB" if spec in deps else "?"  # noqa: E731
        torch = any(c.startswith("torch ") for d in deps.values() for c in d["changes_installed"])
        text += (f" In wheels, markitdown's share of workbench is {weight('markitdown[docx,pptx]')}; docling would add "
                 f"{weight('docling')} and unstructured {weight('unstructured[docx,pptx,pdf]')}, mostly torch's CUDA "
                 "libraries" + (", replacing workbench's CPU torch." if torch else "."))
    return ["## Why markitdown\n", text, ""]


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x" if fast else "more than"


if __name__ == "__main__":
    main()
