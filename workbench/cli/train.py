"""Placeholder: filled in by its step (do not edit here unless you own it)."""


def register(cli) -> None:
    pass
