"""`wb questions generate|review|split`: a test set (and training questions) written from your own documents."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from workbench.cli.output import add_json_flag, cli_progress, emit, table
from workbench.requests import QuestionsRequest
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.subcommand("questions", "generate", help="write questions answer-first from an index's chunks, checked and counted")
    p.add_argument("--index", required=True, metavar="NAME", help="the index whose documents the questions ask about")
    p.add_argument("--n", type=int, default=200, help="how many questions (default 200)")
    p.add_argument("--output", type=Path, required=True, metavar="FILE", help="QA records (.jsonl); the report goes beside it")
    p.add_argument("--model", help="the generator that writes them (default: models.generator; any HF id or folder)")
    p.add_argument("--seed", type=int, help="default: training.seed")
    p.add_argument("--roundtrip", action="store_true",
                   help="keep only questions the writing model answers with the picked answer when given the chunk")
    p.add_argument("--no-closed-book", dest="closed_book", action="store_false",
                   help="skip asking the base model each question without context")
    add_json_flag(p)
    p.set_defaults(handler=run_generate)

    p = cli.subcommand("questions", "review", help="print a questions file: each item, its checks and shares")
    p.add_argument("file", type=Path, metavar="FILE")
    add_json_flag(p)
    p.set_defaults(handler=run_review)

    p = cli.subcommand("questions", "split", help="split a questions file into training and test files")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--test-share", type=float, default=0.5, help="share of the test file (default 0.5)")
    p.add_argument("--by", choices=("question", "chunk", "document"), default="chunk",
                   help="what a side keeps whole: no chunk (default) or document is asked about on both sides")
    p.add_argument("--seed", type=int, help="default: training.seed")
    add_json_flag(p)
    p.set_defaults(handler=run_split)


def run_generate(args: argparse.Namespace, session: Workbench) -> None:
    request = QuestionsRequest(index=args.index, output=args.output, n=args.n, model=args.model, seed=args.seed,
                                   closed_book=args.closed_book, roundtrip=args.roundtrip)
    records, report = session.questions(request, progress=cli_progress(args))

    def render() -> None:
        print(f"{report.kept} of {report.requested} questions written to {args.output} by {report.model} "
              f"({report.questions_per_minute} a minute); report: {args.output}.report.json")
        print(table([[name, counts["passed"], counts["failed"]] for name, counts in report.filters.items()],
                    ["check", "passed", "failed"]))
        for name, share in report.shares.items():
            print(f"{name.replace('_', ' ')}: {'-' if share is None else f'{share:.0%}'} of the kept questions")
        for note in report.shortfall:
            print(f"note: {note}")

    emit(args, {"output": str(args.output), **asdict(report)}, render)


def run_review(args: argparse.Namespace, session: Workbench) -> None:
    items = session.read_questions(args.file)

    def render() -> None:
        rows = [[item.id, item.question, item.answers[0], item.doc_id, item.answer_kind,
                 _mark(item.retrieves_own_chunk), _mark(item.answered_with_chunk), _mark(item.answered_closed_book),
                 item.review or "-"] for item in items]
        print(table(rows, ["id", "question", "answer", "document", "kind", "retrieved", "with chunk", "closed-book", "review"]))
        print(f"\n{len(items)} questions; edit, accept or reject them on the UI's Questions page (a new file is saved)")

    emit(args, [item.model_dump(mode="json") for item in items], render)


def run_split(args: argparse.Namespace, session: Workbench) -> None:
    train, test = session.split_questions(args.file, args.test_share, args.by, args.seed)
    emit(args, {"train": str(train[0]), "train_questions": train[1], "test": str(test[0]), "test_questions": test[1]},
         lambda: print(f"{train[1]} training questions in {train[0]}; {test[1]} test questions in {test[0]}"))


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")
