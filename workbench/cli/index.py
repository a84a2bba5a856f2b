"""`wb index build|add|remove|info|list`, `wb search` and `wb eval retrieval`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.output import add_json_flag, cli_progress, emit, human_size, table
from workbench.errors import WorkbenchError
from workbench.requests import IndexRequest
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.subcommand("index", "build", help="build (or bring up to date) an index from files, folders or the demo corpus")
    p.add_argument("name", help="index name (letters, digits, '.', '_', '-')")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders to index")
    p.add_argument("--demo", action="store_true", help="index the bundled demo corpus (six SQuAD articles)")
    _add_loader_flags(p)
    setting_flag(p, "chunking.splitter")
    setting_flag(p, "chunking.chunk_size", metavar="N")
    setting_flag(p, "chunking.chunk_overlap", metavar="N")
    setting_flag(p, "index.type", help="vector index: flat (exact), hnsw, ivf or ivfpq (approximate) (default: index.type)")
    add_json_flag(p)
    p.set_defaults(handler=run_build)

    p = cli.subcommand("index", "add", help="add or replace documents (unchanged ones are skipped)")
    p.add_argument("name")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _add_loader_flags(p)
    add_json_flag(p)
    p.set_defaults(handler=run_add)

    p = cli.subcommand("index", "remove", help="delete a document and its chunks from an index")
    p.add_argument("name")
    p.add_argument("doc_id", metavar="DOC_ID")
    add_json_flag(p)
    p.set_defaults(handler=run_remove)

    p = cli.subcommand("index", "info", help="show an index's settings, counts and documents")
    p.add_argument("name")
    add_json_flag(p)
    p.set_defaults(handler=run_info)

    p = cli.subcommand("index", "list", help="list the indexes under index.root")
    add_json_flag(p)
    p.set_defaults(handler=run_list)

    p = cli.command("search", help="search an index for the chunks closest to a query")
    p.add_argument("name")
    p.add_argument("query")
    p.add_argument("-k", type=_positive, help="how many chunks (default: retrieval.k)")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="keep chunks whose metadata KEY (or doc_id) equals VALUE (repeatable)")
    _add_hybrid_flag(p)
    add_json_flag(p)
    p.set_defaults(handler=run_search)

    p = cli.subcommand("eval", "retrieval", help="recall@k, MRR and nDCG@10 of an index on QA pairs with contexts")
    p.add_argument("--index", required=True, metavar="NAME")
    p.add_argument("--data", required=True, type=Path, metavar="FILE", help="SQuAD JSON, or QA JSON/JSONL with contexts")
    p.add_argument("--k", default="1,5,10", metavar="K,K,...", help="cut-offs for recall (default 1,5,10)")
    _add_hybrid_flag(p)
    add_json_flag(p)
    p.set_defaults(handler=run_eval)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _add_loader_flags(p: argparse.ArgumentParser) -> None:
    setting_flag(p, "data.text_field", metavar="F")
    setting_flag(p, "data.text_column", metavar="C")


def _add_hybrid_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hybrid", action=argparse.BooleanOptionalAction, default=None,
                   help="fuse BM25 keyword ranking with dense ranking (default: the index's retrieval.hybrid)")


def run_build(args, session: Workbench) -> None:
    if args.demo == bool(args.paths):
        raise WorkbenchError("give either PATH... or --demo")
    index = with_settings(session, args).index(IndexRequest(name=args.name, paths=args.paths, demo=args.demo),
                                             progress=cli_progress(args))
    _report(args, index.name, index.last_update, index.path)


def run_add(args, session: Workbench) -> None:
    summary = with_settings(session, args).add_documents(args.name, args.paths, progress=cli_progress(args))
    _report(args, args.name, summary, session.index_path(args.name))


def run_remove(args, session: Workbench) -> None:
    summary = session.remove_document(args.name, args.doc_id)
    _report(args, args.name, summary, session.index_path(args.name))


def _report(args, name: str, summary, path: Path) -> None:
    def render() -> None:
        print(f"index '{name}': {summary.added} added, {summary.replaced} replaced, {summary.skipped} unchanged, "
              f"{summary.removed} removed; {summary.chunks_embedded} chunks embedded, {summary.chunks_total} in "
              f"total ({summary.seconds:.1f} s) -> {path}")
        if summary.skipped_files:
            print(f"  {len(summary.skipped_files)} unreadable file(s) skipped (warnings above; --json lists them)")
        for warning in summary.warnings:
            print(f"  warning: {warning}")

    emit(args, {"index": name, "path": path, **dataclasses.asdict(summary)}, render)


def run_info(args, session: Workbench) -> None:
    index = session.open_index(args.name)
    info = index.info() | {"document_ids": index.document_ids()}

    def render() -> None:
        settings = info["settings"]
        print(f"index '{info['name']}' ({info['version']}, {human_size(info['size_bytes'])}) at {info['path']}")
        print(f"  {info['documents']} documents, {info['chunks']} chunks; embedder {info['embedder']} "
              f"({info['dimension']}-d); FAISS {info['store']}")
        print(f"  chunking: {settings['splitter']}, size {settings['chunk_size']}, overlap {settings['chunk_overlap']}; "
              f"hybrid by default: {settings['hybrid']}")
        shown = info["document_ids"][:20]
        more = len(info["document_ids"]) - len(shown)
        print("  documents: " + ", ".join(shown) + (f", ... ({more} more; --json lists all)" if more > 0 else ""))

    emit(args, info, render)


def run_list(args, session: Workbench) -> None:
    indexes = session.list_indexes()

    def render() -> None:
        if not indexes:
            print(f"no indexes in {session.config.index.root} (build one with `wb index build NAME PATH...`)")
            return
        rows = [(i["name"], i.get("documents", "-"), i.get("chunks", "-"), i.get("embedder", "-"), i.get("type", "-"),
                 human_size(i["size_bytes"]) if "size_bytes" in i else "-", i.get("updated_at", i.get("error", "")))
                for i in indexes]
        print(table(rows, ["name", "documents", "chunks", "embedder", "type", "size", "updated"]))

    emit(args, indexes, render)


def run_search(args, session: Workbench) -> None:
    hits = session.search(args.name, args.query, k=args.k, filters=_parse_filters(args.filter), hybrid=args.hybrid)

    def render() -> None:
        if not hits:
            print("no matching chunks")
        for rank, hit in enumerate(hits, start=1):
            snippet = " ".join(hit.text.split())
            print(f"{rank}. [{hit.score:.3f}] {hit.doc_id} (chars {hit.start}-{hit.end})\n   "
                  f"{snippet[:300]}{'...' if len(snippet) > 300 else ''}")

    emit(args, hits, render)


def run_eval(args, session: Workbench) -> None:
    try:
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    except ValueError:
        raise WorkbenchError(f"--k {args.k}: expected numbers separated by commas, e.g. 1,5,10") from None
    if not ks or ks[0] < 1:
        raise WorkbenchError(f"--k {args.k}: cut-offs must be positive")
    scores = session.evaluate_retrieval(args.index, args.data, ks, args.hybrid)
    hybrid = scores.pop("hybrid")
    result = {"index": args.index, "data": str(args.data), "hybrid": hybrid, **scores}

    def render() -> None:
        print(f"index '{args.index}' on {args.data}: {scores['questions']} questions"
              + (f" ({scores['without_context']} without a context, left out)" if scores["without_context"] else "")
              + (", hybrid" if hybrid else ", dense"))
        metrics = [key for key in scores if "@" in key or key == "mrr"]
        print(table([[f"{scores[m]:.3f}" for m in metrics]], metrics))

    emit(args, result, render)


def _parse_filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkbenchError(f"--filter {item}: expected KEY=VALUE, e.g. --filter title=Normans")
        filters.setdefault(key.strip(), []).append(value)
    return filters
