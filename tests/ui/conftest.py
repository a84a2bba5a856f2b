"""End-to-end browser harness: a real `streamlit run` server plus Debian's chromium driven by Playwright.

Playwright's own browser download is never used (no network in CI); it drives the system chromium
via `executable_path`. Tests here skip, with a reason, when chromium or playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

STARTUP_TIMEOUT_S = 90.0
RUN_TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes renderers
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]


def _free_port() -> int:
    """A port the OS just handed out; Streamlit's own default (8501) may be taken by a dev server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    """A running `streamlit run` process; `stop()` kills its whole process group (Streamlit forks helpers)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_streamlit(
    app: Path,
    env: Mapping[str, str] | None,
    tmp_path: Path,
    extra_args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT_S,
) -> Server:
    """Start `streamlit run app` on a free port and wait for its health endpoint.

    `env` is merged over os.environ; `extra_args` go after the app path (e.g. ["--", "--config", "x.yaml"]
    to reach the script's own argv). Fails the test with the log tail if the server dies or never answers.
    """
    port = _free_port()
    log = tmp_path / f"streamlit-{port}.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        *extra_args,
    ]  # fmt: skip
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=tmp_path, start_new_session=True
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode} before serving:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    server.stop()
    pytest.fail(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{_tail(log)}")


def wait_for_app(page: Page, timeout_ms: float = RUN_TIMEOUT_MS) -> None:
    """Block until Streamlit is connected and has finished the current script run.

    Mirrors Streamlit's own e2e helper: `stApp` carries the websocket and script-run state as
    attributes, and the "Running..." status widget exists only mid-run. The short initial wait lets a
    rerun that a click/keypress just triggered register (widgets debounce) before we check it is done.
    """
    page.wait_for_timeout(250)
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def chromium_path() -> str | None:
    """Debian's chromium (installed by `make browser`), never Playwright's downloaded build."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if os.access(found, os.X_OK) else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the whole session (launching costs ~1 s per test otherwise)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (`make browser`, or apt-get install chromium, as root)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test (no shared cookies/session state) with a desktop-sized viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(RUN_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def streamlit_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory fixture: `streamlit_server(app, env=None, extra_args=())`; every server is stopped at teardown."""
    servers: list[Server] = []

    def _start(app: Path, env: Mapping[str, str] | None = None, extra_args: Sequence[str] = ()) -> Server:
        server = start_streamlit(app, env, tmp_path, extra_args)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()
