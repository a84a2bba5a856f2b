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
