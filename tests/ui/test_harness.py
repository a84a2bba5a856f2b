"""Proves the browser harness itself works headless, as root, offline: a real server, a real chromium."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Page, expect

from tests.ui.conftest import start_streamlit, wait_for_app

ECHO_APP = textwrap.dedent(
    """
    import streamlit as st

    st.title("Harness check")
    text = st.text_input("Say something", key="said")
    if st.button("Echo"):
        st.write(f"echo: {text}")
    """
)


def test_streamlit_echo_in_real_browser(page: Page, tmp_path: Path) -> None:
    app = tmp_path / "echo_app.py"
    app.write_text(ECHO_APP)
    with start_streamlit(app, {}, tmp_path) as server:
        page.goto(server.url)
        wait_for_app(page)
        expect(page.get_by_role("heading", name="Harness check")).to_be_visible()

        box = page.get_by_label("Say something")
        box.fill("hello harness")
        box.press("Enter")  # commits the value (Streamlit only sends text_input on Enter/blur)
        wait_for_app(page)
        page.get_by_role("button", name="Echo").click()
        wait_for_app(page)
        expect(page.get_by_text("echo: hello harness")).to_be_visible()

        shot = tmp_path / "echo.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.is_file() and shot.stat().st_size > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
