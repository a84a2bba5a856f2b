"""workbench in the browser: `wb ui` runs this with Streamlit. Seven pages, one session (workbench.session)."""

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="workbench: retrieve or finetune?", layout="wide")
PAGES = [
    st.Page(VIEWS / "compare.py", title="Compare", url_path="compare"),
    st.Page(VIEWS / "study.py", title="Study", url_path="study"),
    st.Page(VIEWS / "indexes.py", title="Indexes", url_path="indexes"),
    st.Page(VIEWS / "questions.py", title="Questions", url_path="questions"),
    st.Page(VIEWS / "train.py", title="Train", url_path="train"),
    st.Page(VIEWS / "results.py", title="Results", url_path="results"),
    st.Page(VIEWS / "estimate.py", title="Estimate", url_path="estimate"),
]


def home() -> None:
    """The root address opens Compare at its own address: Streamlit serves its default page at the root
    only, so were Compare the default, /compare (a bookmark, a shared link) would be "Page not found"."""
    st.switch_page(PAGES[0])


page = st.navigation([st.Page(home, title="workbench", url_path="home", default=True, visibility="hidden"), *PAGES])
page.run()
