"""`wb demo`: the embedded models on the bundled corpus, every strategy side by side (workbench.demo)."""

from __future__ import annotations

import argparse

from workbench.cli.ask import side_by_side
from workbench.cli.output import add_json_flag, cli_progress, emit
from workbench.cli.ui import serve
from workbench.session import DEMO_INDEX, Workbench, demo_ui_overrides


def register(cli) -> None:
    p = cli.command("demo", help="prepare the models, index the demo corpus, train a small adapter once, "
                                 "and answer demo questions with every strategy side by side")
    p.add_argument("--headless", action="store_true",
                   help="print the answers side by side and exit, instead of opening the browser UI on them")
    add_json_flag(p)
    p.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace, session: Workbench) -> int | None:
    progress = cli_progress(args)
    if not args.headless:  # ready the demo index and adapter, then open the UI on them
        prepared = session.prepare_demo(progress=progress)
        print(f"demo index '{DEMO_INDEX}' and adapter {prepared.adapter} are ready")
        return serve(session.config, args.config, [*demo_ui_overrides(), *args.set])  # the user's --set wins
    result = session.run_demo(progress=progress)
    emit(args, _as_dict(result), lambda: _print(result))


def _print(result) -> None:
    update = result.index.last_update
    print(f"\nindex '{DEMO_INDEX}': {update.chunks_total} chunks of {len(result.index.document_ids())} paragraphs "
          f"from six SQuAD v1.1 articles (CC BY-SA 4.0); {update.chunks_embedded} embedded now, "
          f"{update.seconds:.1f} s")
    how = f"trained now in {result.adapter_seconds:.0f} s" if result.adapter_trained else "trained earlier, reused"
    print(f"adapter 'demo': LoRA on the demo QA pairs, {how}: {result.adapter}")
    for number, pair in enumerate(result.questions):
        print(f"\n=== Q{number + 1} ({pair.topic}): {pair.question}")
        print(f"    gold answer: {' | '.join(pair.answers)}\n")
        print(side_by_side(result.outcomes, number))
    print(f"\nAsk your own: wb ask \"...\" --strategy all --index {DEMO_INDEX} --adapter demo={result.adapter}")
    print("Or in the browser: make demo (or wb ui)")


def _as_dict(result) -> dict:
    return {
        "index": result.index.info(),
        "adapter": str(result.adapter),
        "adapter_trained": result.adapter_trained,
        "questions": [{"id": q.id, "question": q.question, "answers": list(q.answers),
                       "answers_by_strategy": {o.label: (o.answers[i].to_dict() if not o.error else {"error": o.error.describe()})
                                               for o in result.outcomes}}
                      for i, q in enumerate(result.questions)],
    }
