"""`wb`: a thin command line over the Python API. Each sub-package's commands live in their own
module here and register themselves through `Commands`; every leaf command takes `--config` and
`--set section.key=value`, and a handler `handler(args, config) -> int | None`."""

from __future__ import annotations

import argparse
import sys

from workbench.config import Config, load_config
from workbench.errors import WorkbenchError

GROUPS = {
    "models": "prepare and list the models (embedded defaults, Hugging Face ids, local folders)",
    "index": "build, update and inspect document indexes",
    "train": "finetune a classifier or a generator on your data",
    "eval": "evaluate strategies, classifiers and retrieval on held-out data",
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


def with_flags(config: Config, args: argparse.Namespace, keys: dict[str, str]) -> Config:
    """The config with the flags that were given set: `keys` maps a config key to its flag's argparse
    name (`{"training.generator.epochs": "epochs"}`); a flag left out keeps the config's value, and a
    bad value is an error naming the flag."""
    values = {key: getattr(args, name, None) for key, name in keys.items()}
    return config.updated({key: value for key, value in values.items() if value is not None},
                          {key: "--" + name.replace("_", "-") for key, name in keys.items()})


def build_parser() -> argparse.ArgumentParser:
    from workbench.cli import ask, compare, demo, estimate, index, models, train, ui

    parser = argparse.ArgumentParser(
        prog="wb",
        description="workbench: on your own documents, compare retrieval (zero-shot, few-shot, RAG) "
        "with finetuning (classifiers, LoRA and other PEFT methods), quality and cost side by side.",
    )
    commands = Commands(parser)
    for module in (models, index, ask, train, compare, estimate, demo, ui):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, args.set)
        return args.handler(args, config) or 0
    except WorkbenchError as exc:
        print(f"wb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
