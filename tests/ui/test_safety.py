"""What the server refuses: paths outside its roots, uploads of the wrong type or size, bad names,
a busy port; and that it binds to this machine only unless told otherwise."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from ui import common
from workbench.cli.main import main
from workbench.cli.ui import streamlit_command
from workbench.config import load_config
from workbench.errors import WorkbenchError


@dataclass
class Upload:
    """What Streamlit's file_uploader hands a page: a name, a size and the bytes."""

    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def getvalue(self) -> bytes:
        return self.data


@pytest.fixture
def server_config(tmp_path):
    (tmp_path / "data").mkdir()
    return load_config(overrides=[f"ui.uploads_root={tmp_path / 'uploads'}", f"ui.data_roots=[{tmp_path / 'data'}]",
                                  "ui.max_upload_mb=1"])


def test_paths_outside_the_roots_are_refused(server_config, tmp_path):
    inside = tmp_path / "data" / "notes.txt"
    inside.write_text("hello")
    assert common.allowed_path(str(inside), server_config) == inside.resolve()
    for outside in ("/etc/passwd", str(tmp_path / "data" / ".." / "elsewhere"), str(tmp_path)):
        with pytest.raises(common.PathRefused, match="outside the folders this server may read"):
            common.allowed_path(outside, server_config)


def test_uploads_are_checked_for_type_size_and_folder_name(server_config, tmp_path):
    [saved] = common.save_uploads([Upload("../../notes.md", b"# hi")], server_config, "mine")
    assert saved == tmp_path / "uploads" / "mine" / "notes.md" and saved.read_bytes() == b"# hi"
    with pytest.raises(WorkbenchError, match=r"\.exe are not accepted"):
        common.save_uploads([Upload("tool.exe", b"MZ")], server_config, "mine")
    with pytest.raises(WorkbenchError, match="over the 1 MB limit"):
        common.save_uploads([Upload("big.txt", b"x" * (2 * 2**20))], server_config, "mine")
    with pytest.raises(WorkbenchError, match="upload folder name"):
        common.save_uploads([Upload("a.txt", b"x")], server_config, "../escape")


def test_model_and_document_text_is_shown_as_text():
    rendered = common.highlighted("<b>Paris</b> is *the* capital", {"Paris": "orange"})
    assert "<b>" not in rendered and r"\<b\>" in rendered and r"\*the\*" in rendered
    assert ":orange-background[Paris]" in rendered


def test_the_server_binds_to_this_machine_and_refuses_a_busy_port(capsys):
    command = streamlit_command(load_config())
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["ui", "--port", str(busy.getsockname()[1])]) == 2
    assert "is a workbench server already running? Pick another with --port" in capsys.readouterr().err


def test_on_the_network_the_app_asks_for_the_token_first(monkeypatch, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_SET", f"ui.host=0.0.0.0\nui.jobs_root={tmp_path / 'jobs'}")
    monkeypatch.setenv("WORKBENCH_TOKEN", "s3cret")
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "ui" / "app.py"), default_timeout=60).run()
    assert [t.label for t in app.text_input] == ["Access token"] and not app.exception
    app.text_input[0].input("guess")
    app.button[0].click().run()
    assert "not this server's token" in app.error[0].value and "signed_in" not in app.session_state
    app.text_input[0].input("s3cret")
    app.button[0].click().run()
    assert app.session_state["signed_in"], "signed in: the pages show"
    monkeypatch.delenv("WORKBENCH_TOKEN")
    refused = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "ui" / "app.py"), default_timeout=60).run()
    assert "refusing to listen on 0.0.0.0 without sign-in" in refused.error[0].value and not refused.text_input


def test_wb_ui_on_the_network_without_sign_in_is_refused(capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_TOKEN", raising=False)
    assert main(["ui", "--host", "0.0.0.0"]) != 0
    assert "refusing to listen on 0.0.0.0 without sign-in" in capsys.readouterr().err


def test_sigterm_stops_wb_ui_and_its_streamlit_server(tmp_path):
    import signal
    import subprocess
    import time

    from tests.processes import WB, _environment

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([*WB, "ui", "--port", str(port), "--set", f"ui.jobs_root={tmp_path / 'jobs'}"],
                               env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert process.poll() is None and time.monotonic() < deadline, "the UI did not start"
        time.sleep(0.3)
    process.send_signal(signal.SIGTERM)  # what a service manager sends
    process.wait(timeout=30)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # Streamlit has gone: nothing holds the port


def test_the_pages_see_the_address_given_by_flag_so_they_ask_for_sign_in(monkeypatch):
    """`wb ui --host 0.0.0.0` passes the address to the Streamlit server's pages, which decide on sign-in by
    it (found in a browser: the flag reached only `wb ui` itself, and the pages let everyone in)."""
    from workbench.cli.ui import page_environment
    from workbench.config import CONFIG_ENV, OVERRIDES_ENV

    config = load_config(overrides=["ui.host=0.0.0.0", "ui.port=8600"])  # as the flags set them
    env = page_environment(config, None, ["ui.max_upload_mb=2"])
    seen = load_config(env[CONFIG_ENV] or None, env[OVERRIDES_ENV].splitlines())
    assert (seen.ui.host, seen.ui.port, seen.ui.max_upload_mb) == ("0.0.0.0", 8600, 2)
