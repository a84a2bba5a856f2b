"""`wb study FOLDER`: a folder of documents in, a verdict out (index, questions, every strategy, report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.output import add_json_flag, cli_progress, emit
from workbench.requests import StudyRequest
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.command("study", help="study a folder of your documents: index it, write questions from it, run "
                                  "every strategy on the same held-out questions, and report which answers best")
    p.add_argument("folder", type=Path, help="the documents (HTML, PDF, Word, PowerPoint, Markdown, text)")
    p.add_argument("--questions", type=Path, metavar="FILE",
                   help="questions already written from these documents and reviewed (default: write them now)")
    p.add_argument("--human", type=Path, metavar="FILE",
                   help="questions people wrote (QA records): asked too, and the verdicts compared")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="the study's folder (default: <training.output_root>/studies/<folder name>)")
    p.add_argument("--smoke", action="store_true", help="a tiny study (a quick check of the whole flow)")
    setting_flag(p, "study.questions", "--n")
    setting_flag(p, "study.designs")
    setting_flag(p, "study.changed_facts")
    add_json_flag(p)
    p.set_defaults(handler=study_command)


def study_command(args: argparse.Namespace, session: Workbench) -> int:
    request = StudyRequest(folder=args.folder, questions=args.questions, human=args.human, output=args.output,
                           smoke=args.smoke)
    outcome = with_settings(session, args).study(request, cli_progress(args))

    def render() -> None:
        print((outcome.folder / "study.md").read_text(encoding="utf-8"))
        print(f"report: {outcome.folder / 'study.md'}")

    emit(args, {"folder": str(outcome.folder), **session.read_study(outcome.folder)}, render)
    return 1 if any(d.error or any(r.error for r in d.results) for d in outcome.designs) else 0
