"""`wb ui`: the browser UI (the Streamlit app in ui/), served from this machine."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

from workbench.cli.main import setting_flag, with_settings
from workbench.config import CONFIG_ENV, OVERRIDES_ENV, Config
from workbench.errors import WorkbenchError
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.command("ui", help="serve the browser UI: compare strategies, build indexes, train, read results")
    setting_flag(p, "ui.host")
    setting_flag(p, "ui.port")
    p.set_defaults(handler=ui_command)


def ui_command(args: argparse.Namespace, session: Workbench) -> int:
    session = with_settings(session, args)
    return serve(session.config, args.config, args.set)


def app_path() -> Path:
    """The app inside the installed `ui` package (the checkout's ui/ in an editable install)."""
    import ui

    return Path(ui.__file__).resolve().parent / "app.py"


def streamlit_command(config: Config) -> list[str]:
    ui = config.ui
    return [sys.executable, "-m", "streamlit", "run", str(app_path()), "--server.address", ui.host,
            "--server.port", str(ui.port), "--server.headless", "true", "--server.maxUploadSize", str(ui.max_upload_mb),
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]


def serve(config: Config, config_file: str | None, overrides: list[str]) -> int:
    """Run the app until Ctrl-C. The server's pages read the same config (file and --set overrides)."""
    host, port = config.ui.host, config.ui.port
    if not _is_loopback(host):
        print(f"wb ui: warning: listening on {host}: anyone who can reach this machine on port {port} can use the "
              "app, read its indexes and start training", file=sys.stderr)
    _check_port_free(host, port)
    chosen = str(Path(config_file).resolve()) if config_file else os.environ.get(CONFIG_ENV, "")
    env = {**os.environ, CONFIG_ENV: chosen, OVERRIDES_ENV: "\n".join(overrides)}
    print(f"workbench UI: http://{'localhost' if _is_loopback(host) else host}:{port}  (Ctrl-C stops it)", flush=True)
    process = subprocess.Popen(streamlit_command(config), env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise WorkbenchError(f"cannot serve on {host}:{port} ({exc.strerror}); is the UI already running? "
                                 "Pick another with --port") from None
