"""One base error, so the CLI and UI can show a clear message instead of a traceback."""


class WorkbenchError(Exception):
    """A problem the user can fix: bad input, a missing model, a missing index, ..."""
