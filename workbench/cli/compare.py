"""`wb compare --config configs/experiments/NAME.yaml`: run an experiment, print its summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.output import add_json_flag, cli_progress, emit
from workbench.requests import CompareRequest
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.command("compare", help="run an experiment file: every strategy on the same held-out items, "
                                    "with intervals, paired tests and costs")
    p.add_argument("--smoke", action="store_true", help="a tiny version of the experiment (a quick check)")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="results folder (default: experiment.output, else <training.output_root>/experiments/NAME)")
    add_json_flag(p)
    p.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace, session: Workbench) -> int:
    results, output = session.compare(CompareRequest(smoke=args.smoke, output=args.output), cli_progress(args))

    def render() -> None:
        print((output / "summary.md").read_text(encoding="utf-8"))
        print(f"results: {output}")

    emit(args, {"output": str(output), **session.read_summary(output).model_dump()}, render)
    return 1 if any(r.error for r in results) else 0
