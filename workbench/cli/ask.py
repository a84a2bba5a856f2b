"""`wb ask` (one question, one or all strategies side by side) and `wb eval qa` (strategies scored on
a QA file). Both ask the session and print its `Answer`s."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.output import add_json_flag, cli_progress, emit, table
from workbench.errors import Failure, WorkbenchError
from workbench.requests import StrategyOptions
from workbench.session import STRATEGY_NAMES, Workbench

if TYPE_CHECKING:
    from workbench.strategies import Answer


def register(cli) -> None:
    p = cli.command("ask", help="answer a question with one strategy, or all of them side by side")
    p.add_argument("question", help="the question to answer")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help=f"{' | '.join(STRATEGY_NAMES)} | all; repeat it, or give a comma-separated list, for "
                        "answers side by side (default: zero-shot)")
    _add_strategy_options(p)
    add_json_flag(p)
    p.set_defaults(handler=_ask)

    p = cli.subcommand("eval", "qa", help="score answering strategies on a QA file (EM, token F1, answer contained)")
    p.add_argument("--data", required=True, metavar="FILE", help="QA pairs: SQuAD JSON or JSON/JSONL records")
    p.add_argument("--strategies", default="zero-shot", metavar="LIST",
                   help=f"comma-separated among {', '.join(STRATEGY_NAMES)}, or all (default: zero-shot)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N questions only")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="where predictions-<strategy>.jsonl and scores.json go "
                        "(default: <training.output_root>/eval-qa/<time>)")
    _add_strategy_options(p)
    add_json_flag(p)
    p.set_defaults(handler=_eval_qa)


def _add_strategy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", metavar="NAME", help="the index the retrieval strategies search")
    p.add_argument("--adapter", action="append", default=[], metavar="PATH|NAME=PATH",
                   help="for the finetuned strategies: an adapter folder or a `wb train generator` run folder "
                        "(any method, full included; repeatable: one answer per adapter)")
    setting_flag(p, "retrieval.k", metavar="N")
    setting_flag(p, "strategies.shots", metavar="N")
    setting_flag(p, "strategies.shot_selection")
    p.add_argument("--demonstrations", metavar="FILE", help="QA file of the few-shot demonstration pool")
    setting_flag(p, "models.generator", "--model", metavar="NAME")
    p.add_argument("--prompts", metavar="FILE", help="prompt templates merged over configs/prompts.yaml")
    setting_flag(p, "generation.max_new_tokens", metavar="N")


def _settings(args: argparse.Namespace, session: Workbench) -> tuple[Workbench, StrategyOptions]:
    """The session with the flags that are settings applied, and the options that are not."""
    session = with_settings(session, args)
    return session, StrategyOptions(index=args.index, adapters=tuple(args.adapter), demonstrations=args.demonstrations,
                                   prompts=args.prompts)


def _ask(args: argparse.Namespace, session: Workbench) -> None:
    session, options = _settings(args, session)
    strategies = [name for given in args.strategy or ["zero-shot"] for name in given.split(",")]
    if args.json:
        outcomes = session.ask(args.question, strategies, options)
        emit(args, [{"strategy": o.label, "error": o.error.describe()} if o.error else
                    {"strategy": o.label, "answer": o.answers[0].to_dict()} for o in outcomes], lambda: None)
        return
    stream = session.ask(args.question, strategies, options, stream=True)
    if len(stream.labels) == 1:  # one answer: printed as it is generated
        _print_streaming(stream)
        return
    # Several answers: a strategy that cannot be built or fails shows its error in its own column.
    print(side_by_side(stream.outcomes(), 0))


def _print_streaming(stream) -> None:
    """Print the one answer as it is generated, then the cleaned answer and where it came from."""
    for _, item in stream:
        if isinstance(item, Failure):
            raise WorkbenchError(item.describe()) if item.kind is None else RuntimeError(item.describe())
        if isinstance(item, str):
            print(item, end="", flush=True)
            continue
        print()
        if item.text != item.raw_text.strip():
            print(f"answer: {item.text}   ({', '.join(item.postprocessing)})")
        for line in _details(item):
            print(line)


def _details(answer: Answer) -> list[str]:
    lines = [f"[{s.number}] {s.doc_id} (score {s.score:.3f})" for s in answer.sources]
    lines += [f"demo: {d.question} -> {d.answer}" for d in answer.demonstrations]
    dropped = len(answer.dropped_sources) + len(answer.dropped_demonstrations)
    if dropped:
        lines.append(f"dropped to fit the context window: {dropped}")
    adapter = f" + {answer.adapter}" if answer.adapter else ""
    lines.append(f"{answer.model}{adapter}: {answer.tokens_in} tokens in, {answer.tokens_out} out, "
                 f"retrieval {answer.retrieval_seconds * 1000:.0f} ms, generation {answer.generation_seconds:.2f} s")
    return lines


def side_by_side(outcomes: list, question: int) -> str:
    """One column per strategy, each wrapped to fit the terminal: its answer to the `question`-th
    question with where it came from, or its error."""
    gap = 3
    width = max(20, (shutil.get_terminal_size((120, 24)).columns - gap * (len(outcomes) - 1)) // len(outcomes))
    columns = []
    for outcome in outcomes:
        if outcome.error:
            body = [f"error: {outcome.error.describe()}"]
        else:
            answer = outcome.answers[question]
            body = [answer.text or "(empty)", ""] + _details(answer)
        lines = [outcome.label, "-" * min(width, max(len(outcome.label), 8))]
        for paragraph in body:
            lines += textwrap.wrap(paragraph, width) or [""]
        columns.append(lines)
    height = max(len(c) for c in columns)
    rows = [(" " * gap).join(c[i].ljust(width) if i < len(c) else " " * width for c in columns).rstrip()
            for i in range(height)]
    return "\n".join(rows)


def _eval_qa(args: argparse.Namespace, session: Workbench) -> None:
    session, options = _settings(args, session)
    scores, output = session.evaluate(args.data, args.strategies.split(","), options, limit=args.limit,
                                      output=args.output, progress=cli_progress(args))

    def render() -> None:
        def interval(s, metric: str) -> str:
            low, high = s.intervals[metric]
            return f"{getattr(s, metric):.3f} [{low:.2f}, {high:.2f}]"

        rows = [(s.strategy, s.questions, interval(s, "exact_match"), interval(s, "token_f1"),
                 interval(s, "answer_contained"),
                 f"{s.questions_per_second:.2f}", f"{s.retrieval_seconds * 1000:.0f}", f"{s.generation_seconds:.2f}",
                 f"{s.tokens_in:.0f}", f"{s.tokens_out:.1f}") for s in scores]
        print(table(rows, ["strategy", "n", "EM [95 % CI]", "F1 [95 % CI]", "contained [95 % CI]", "q/s",
                           "retrieval ms", "generation s", "tokens in", "tokens out"]))
        print(f"\npredictions: {output}\nto compare strategies with paired tests, run them as an experiment: "
              "wb compare (docs/experiments.md)")

    emit(args, scores, render)
