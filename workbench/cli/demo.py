"""`wb demo` (owned by the lead)."""


def register(cli) -> None:
    pass
