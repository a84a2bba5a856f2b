"""`wb ask` (one question, one or all strategies side by side) and `wb eval qa` (strategies scored on
a QA file). Both only build strategies through `StrategyFactory` and print their `Answer`s."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

from workbench import api
from workbench.cli.output import add_json_flag, cli_progress, emit, table
from workbench.cli.main import with_flags
from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.evaluation.qa import QAScores
from workbench.strategies import (
    SELECTIONS,
    STRATEGY_NAMES,
    Answer,
    Strategy,
    StrategyFactory,
    StrategyOptions,
    StrategyOutcome,
    parse_strategy_names,
)
from workbench.strategies.base import as_pair


def register(cli) -> None:
    p = cli.command("ask", help="answer a question with one strategy, or all of them side by side")
    p.add_argument("question", help="the question to answer")
    p.add_argument("--strategy", default="zero-shot", metavar="NAME",
                   help=f"{' | '.join(STRATEGY_NAMES)} | all, or a comma-separated list (default: zero-shot)")
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
    p.add_argument("--k", type=int, metavar="N", help="chunks retrieved (default: config retrieval.k)")
    p.add_argument("--shots", type=int, metavar="N", help="few-shot demonstrations (default: strategies.shots)")
    p.add_argument("--shot-selection", choices=SELECTIONS,
                   help="pick demonstrations at random (seeded) or by similarity to the question "
                        "(default: strategies.shot_selection)")
    p.add_argument("--demonstrations", metavar="FILE", help="QA file of the few-shot demonstration pool")
    p.add_argument("--model", metavar="NAME", help="generator (default: config models.generator)")
    p.add_argument("--prompts", metavar="FILE", help="prompt templates merged over configs/prompts.yaml")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="answer budget (default: config)")


def _settings(args: argparse.Namespace, config: Config) -> tuple[Config, StrategyOptions]:
    """The config with the flags that are settings applied, and the options that are not."""
    config = with_flags(config, args, {"retrieval.k": "k", "strategies.shots": "shots",
                                       "strategies.shot_selection": "shot_selection", "models.generator": "model",
                                       "generation.max_new_tokens": "max_new_tokens"})
    return config, StrategyOptions(index=args.index, adapters=tuple(args.adapter), demonstrations=args.demonstrations,
                                   prompts=args.prompts)


def _ask(args: argparse.Namespace, config: Config) -> None:
    as_pair(args.question)  # an empty question is one error, not one per strategy
    names = parse_strategy_names(args.strategy)
    config, options = _settings(args, config)
    if len(names) == 1 and not args.json:
        strategies = StrategyFactory(config, options).build(names[0])
        if len(strategies) == 1:
            _stream_one(strategies[0], args.question)
            return
    # Several answers: a strategy that cannot be built or fails shows its error in its own column.
    outcomes = api.ask(config, args.question, names, options)
    data = [{"strategy": o.label, "error": _describe(o.error)} if o.error else
            {"strategy": o.label, "answer": o.answers[0].to_dict()} for o in outcomes]
    emit(args, data, lambda: print(side_by_side(outcomes, 0)))


def _describe(error: Exception) -> str:
    """Our errors explain themselves; anything else also says what kind of failure it was."""
    return str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"


def _stream_one(strategy: Strategy, question: str) -> None:
    """Print the answer as it is generated, then the cleaned answer and where it came from."""
    for item in strategy.stream(question):
        if isinstance(item, Answer):
            print()
            if item.text != item.raw_text.strip():
                print(f"answer: {item.text}   ({', '.join(item.postprocessing)})")
            for line in _details(item):
                print(line)
        else:
            print(item, end="", flush=True)


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


def side_by_side(outcomes: list[StrategyOutcome], question: int) -> str:
    """One column per strategy, each wrapped to fit the terminal: its answer to the `question`-th
    question with where it came from, or its error."""
    gap = 3
    width = max(20, (shutil.get_terminal_size((120, 24)).columns - gap * (len(outcomes) - 1)) // len(outcomes))
    columns = []
    for outcome in outcomes:
        if outcome.error:
            body = [f"error: {_describe(outcome.error)}"]
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


def _eval_qa(args: argparse.Namespace, config: Config) -> None:
    config, options = _settings(args, config)
    scores, output = api.evaluate_qa(config, args.data, parse_strategy_names(args.strategies), options,
                                     limit=args.limit, output=args.output,
                                     progress=cli_progress(args))

    def render() -> None:
        def interval(s: QAScores, metric: str) -> str:
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
