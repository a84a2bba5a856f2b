"""workbench in the browser: `wb ui` runs this with Streamlit. Six pages, one session (workbench.session)."""

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="workbench: retrieve or finetune?", layout="wide")
page = st.navigation([
    st.Page(VIEWS / "compare.py", title="Compare", url_path="compare", default=True),
    st.Page(VIEWS / "indexes.py", title="Indexes", url_path="indexes"),
    st.Page(VIEWS / "questions.py", title="Questions", url_path="questions"),
    st.Page(VIEWS / "train.py", title="Train", url_path="train"),
    st.Page(VIEWS / "results.py", title="Results", url_path="results"),
    st.Page(VIEWS / "estimate.py", title="Estimate", url_path="estimate"),
])
page.run()
