"""`wb serve`: the session behind an OpenAI-compatible HTTP API (docs/serve.md)."""

from workbench.serve.app import create_app, run_server

__all__ = ["create_app", "run_server"]
