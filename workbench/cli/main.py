"""`wb`: a thin command line over the session (`workbench.session.Workbench`). Each sub-package's commands
live in their own module here and register themselves through `Commands`; every leaf command takes
`--config` and `--set section.key=value`, and a handler `handler(args, session) -> int | None`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, get_origin

from workbench.config import load_config, workbench_home
from workbench.errors import WorkbenchError
from workbench.progress import Cancelled
from workbench.session import Workbench

GROUPS = {
    "models": "prepare and list the models (embedded defaults, Hugging Face ids, local folders)",
    "index": "build, update and inspect document indexes",
    "train": "finetune a classifier or a generator on your data",
    "eval": "evaluate strategies, classifiers and retrieval on held-out data",
    "questions": "write questions from your own documents, review them, split them into training and test files",
}


class Commands:
    """Hands out argument parsers for `wb NAME` and `wb GROUP NAME`, with the common options."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        self._groups: dict[str, argparse._SubParsersAction] = {}
        self._common = argparse.ArgumentParser(add_help=False)
        self._common.add_argument("--config", metavar="FILE", help="a YAML file merged over configs/default.yaml")
        self._common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                                  help="override one config value, e.g. --set retrieval.k=5 (repeatable)")

    def command(self, name: str, help: str) -> argparse.ArgumentParser:
        return self._top.add_parser(name, help=help, description=help, parents=[self._common])

    def subcommand(self, group: str, name: str, help: str) -> argparse.ArgumentParser:
        if group not in self._groups:
            group_parser = self._top.add_parser(group, help=GROUPS[group], description=GROUPS[group])
            self._groups[group] = group_parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        return self._groups[group].add_parser(name, help=help, description=help, parents=[self._common])


def setting_flag(parser: argparse.ArgumentParser, key: str, *names: str, **options: Any) -> None:
    """Add a flag that sets config key `key` for this command. Its type, choices and help come from the
    setting itself (its field in workbench.config, its comment in configs/default.yaml), so no flag
    declares a setting again; `names` default to --<the key's last part>. A `{section}` in the key is
    filled by the command (`with_settings`), e.g. the loop flags of `wb train`."""
    spec = Workbench.setting_spec(key.format(section="generator"))
    if spec.kind is bool:
        options.setdefault("action", argparse.BooleanOptionalAction)
    elif get_origin(spec.kind) is list:
        options.setdefault("type", lambda text: _listed(text, spec.choices))
        options.setdefault("metavar", ",".join(spec.choices) if spec.choices else "A,B,...")
    elif spec.choices:
        options.setdefault("choices", spec.choices)
    elif spec.kind in (int, float):
        options.setdefault("type", spec.kind)
    where = key.replace("{section}", "*")
    options.setdefault("help", f"{spec.description} (default: {where})" if spec.description else f"default: {where}")
    flag = parser.add_argument(*(names or ("--" + key.rsplit(".", 1)[1].replace("_", "-"),)), **options)
    parser.set_defaults(settings={**(parser.get_default("settings") or {}), flag.dest: key})


def _listed(text: str, choices: tuple[str, ...]) -> list[str]:
    """A comma-separated flag value as a list, each part one of `choices` when the setting has any."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in parts if choices and part not in choices]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown value {', '.join(unknown)} (choose from {', '.join(choices)})")
    return parts


def with_settings(session: Workbench, args: argparse.Namespace, **fill: str) -> Workbench:
    """The session with the settings whose flags were given (`setting_flag`); a flag left out keeps the
    config's value, and a bad value is an error naming the flag. `fill` completes keys like
    "training.{section}.epochs"."""
    keys = {dest: key.format(**fill) for dest, key in (getattr(args, "settings", None) or {}).items()}
    values = {key: getattr(args, dest) for dest, key in keys.items() if getattr(args, dest, None) is not None}
    return session.updated(values, {key: "--" + dest.replace("_", "-") for dest, key in keys.items()})


def build_parser() -> argparse.ArgumentParser:
    from workbench.cli import ask, compare, demo, estimate, export, index, models, questions, serve, study, train, ui

    parser = argparse.ArgumentParser(
        prog="wb",
        description="workbench: on your own documents, compare retrieval (zero-shot, few-shot, RAG) "
        "with finetuning (classifiers, LoRA and other PEFT methods), quality and cost side by side.",
    )
    commands = Commands(parser)
    for module in (study, models, index, questions, ask, train, export, compare, estimate, demo, serve, ui):
        module.register(commands)
    return parser


BUG_REPORT_EXIT = 70  # EX_SOFTWARE: an internal error, not the user's


def main(argv: list[str] | None = None) -> int:
    """Run one `wb` command. A user error is one line starting `wb: error:`; anything unexpected is one
    line too, with the traceback in a log file to attach to a bug report."""
    args = build_parser().parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)  # what `wb train --nproc N` runs again
    try:
        return args.handler(args, Workbench(load_config(args.config, args.set))) or 0
    except WorkbenchError as exc:
        print(f"wb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wb: interrupted", file=sys.stderr)
        return 130
    except Cancelled as exc:
        print(f"wb: stopped ({exc or 'cancelled'}); a training run resumes from its checkpoint with --resume",
              file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused: a path the user gave, a full disk, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"wb: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in a file
        log = write_crash_log(argv)
        first_line = (str(exc).splitlines() or [""])[0][:200]
        print(f"wb: internal error ({type(exc).__name__}: {first_line}). This is a bug in workbench; please "
              f"report it with the log {log}", file=sys.stderr)
        return BUG_REPORT_EXIT


def write_crash_log(argv: list[str] | None) -> Path:
    """The current exception's traceback and the command, in a new file under $WORKBENCH_HOME/logs."""
    folder = workbench_home() / "logs"
    text = f"wb {' '.join(sys.argv[1:] if argv is None else argv)}\n\n{traceback.format_exc()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("w", prefix=time.strftime("wb-%Y%m%d-%H%M%S-"), suffix=".log",
                                             dir=folder, delete=False)
    except OSError:
        handle = tempfile.NamedTemporaryFile("w", prefix="wb-", suffix=".log", delete=False)
    with handle:
        handle.write(text)
    return Path(handle.name)


if __name__ == "__main__":
    sys.exit(main())
