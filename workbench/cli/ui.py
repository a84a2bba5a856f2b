"""`wb ui`: the browser UI (the Streamlit app in ui/), served from this machine."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from workbench.cli.main import setting_flag, with_settings
from workbench.config import CONFIG_ENV, OVERRIDES_ENV, Config
from workbench.errors import WorkbenchError
from workbench.session import Workbench, is_loopback


def register(cli) -> None:
    p = cli.command("ui", help="serve the browser UI: compare strategies, build indexes, train, read results")
    setting_flag(p, "ui.host")
    setting_flag(p, "ui.port")
    p.set_defaults(handler=ui_command)


def ui_command(args: argparse.Namespace, session: Workbench) -> int:
    session = with_settings(session, args)
    sign_in = session.sign_in(session.config.ui.host, "ui")  # refused on the network without one
    return serve(session.config, args.config, args.set, sign_in)


def app_path() -> Path:
    """The app inside the installed `ui` package (the checkout's ui/ in an editable install)."""
    import ui

    return Path(ui.__file__).resolve().parent / "app.py"


def streamlit_command(config: Config) -> list[str]:
    ui = config.ui
    return [sys.executable, "-m", "streamlit", "run", str(app_path()), "--server.address", ui.host,
            "--server.port", str(ui.port), "--server.headless", "true", "--server.maxUploadSize", str(ui.max_upload_mb),
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]


def serve(config: Config, config_file: str | None, overrides: list[str], sign_in: str = "none") -> int:
    """Run the app until Ctrl-C or SIGTERM (a service manager's stop), which stop the Streamlit server
    too. The server's pages read the same config (file and --set overrides), and sign people in as
    `sign_in` says (`Workbench.sign_in`)."""
    host, port = config.ui.host, config.ui.port
    if not is_loopback(host):
        print(f"wb ui: listening on {host}: people sign in with " +
              ("Streamlit's OIDC login" if sign_in == "oidc" else "the shared token (auth)"), file=sys.stderr)
    check_port_free(host, port)
    env = page_environment(config, config_file, overrides)
    print(f"workbench UI: http://{'localhost' if is_loopback(host) else host}:{port}  (Ctrl-C stops it)", flush=True)
    process = subprocess.Popen(streamlit_command(config), env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())  # forwarded, then waited for
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def page_environment(config: Config, config_file: str | None, overrides: list[str]) -> dict[str, str]:
    """The environment the Streamlit server runs in: its pages read the same config, the file and the --set
    overrides, and the address given by --host/--port (the sign-in depends on it)."""
    chosen = str(Path(config_file).resolve()) if config_file else os.environ.get(CONFIG_ENV, "")
    served = [*overrides, f"ui.host={config.ui.host}", f"ui.port={config.ui.port}"]
    return {**os.environ, CONFIG_ENV: chosen, OVERRIDES_ENV: "\n".join(served)}


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise WorkbenchError(f"cannot serve on {host}:{port} ({exc.strerror}); is a workbench server already running? "
                                 "Pick another with --port") from None
