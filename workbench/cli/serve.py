"""`wb serve`: every strategy behind an OpenAI-compatible API (docs/serve.md)."""

from __future__ import annotations

import argparse

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.ui import check_port_free
from workbench.session import Workbench, is_loopback


def register(cli) -> None:
    p = cli.command("serve", help="serve every strategy to any OpenAI client: /v1/models, /v1/chat/completions, "
                                  "/v1/completions")
    setting_flag(p, "serve.host")
    setting_flag(p, "serve.port")
    p.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, session: Workbench) -> None:
    session = with_settings(session, args)
    host, port = session.config.serve.host, session.config.serve.port
    from workbench.serve import run_server  # FastAPI, only when serving

    session.sign_in(host, "serve")  # refused on the network without a token
    token = session.access_token()  # on the loopback address too, when one is set
    check_port_free(host, port)
    models = session.served_models()
    print(f"workbench API: http://{'127.0.0.1' if is_loopback(host) else host}:{port}/v1  "
          f"({len(models)} models: {', '.join(models[:4])}{', ...' if len(models) > 4 else ''}; "
          f"{'bearer token required' if token else 'no token'}; Ctrl-C stops it)", flush=True)
    run_server(session, host, port, token)
