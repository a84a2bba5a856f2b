"""workbench in the browser: `wb ui` runs this with Streamlit. Seven pages, one session (workbench.session).
On an address other than 127.0.0.1 people sign in first (`Workbench.sign_in`): Streamlit's OIDC login, or
the shared token."""

import hmac
from pathlib import Path

import streamlit as st

from ui.common import session
from workbench.errors import WorkbenchError

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="workbench: retrieve or finetune?", layout="wide")


def signed_in() -> bool:
    """Whether this browser may use the app; if not, the sign-in form (or why the server refuses) is shown."""
    bench = session()
    try:
        mode = bench.sign_in(bench.config.ui.host, "ui")
    except WorkbenchError as exc:  # `wb ui` refuses to start like this; a server started otherwise refuses here
        st.error(str(exc))
        return False
    if mode == "none" or st.session_state.get("signed_in"):
        return True
    if mode == "oidc":
        if st.user.is_logged_in:
            return True
        st.title("workbench")
        st.button("Sign in", on_click=st.login, type="primary")
        return False
    st.title("workbench")
    with st.form("sign-in"):
        token = st.text_input("Access token", type="password", help="the token this server was given (auth section)")
        if st.form_submit_button("Sign in", type="primary"):
            if hmac.compare_digest(token.strip().encode(), (bench.access_token() or "").encode()):
                st.session_state["signed_in"] = True
                st.rerun()
            st.error("That is not this server's token.")
    return False


if not signed_in():
    st.stop()
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
