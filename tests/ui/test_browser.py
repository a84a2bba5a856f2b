"""The UI end to end in a real browser (Debian's chromium, Playwright) against a real `streamlit run`
server of the app: ask the demo question, build an index from an upload, train through a page
reload, cancel a run, and take uploaded documents through a quick study to its verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Page, expect

from tests.conftest import own_documents_config
from tests.ui.conftest import start_streamlit, wait_for_app
from workbench.cli.ui import app_path
from workbench.config import load_config
from workbench.demo import DemoSettings, prepare_demo


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo):
    """The app over the session's demo index and tiny demo adapter (the `demo` fixture), its jobs and
    uploads under a temporary folder, its config bringing a smaller study experiment."""
    root, demo_config = tmp_path_factory.mktemp("ui"), demo[0]
    overrides = [f"index.root={demo_config.index.root}", f"training.output_root={demo_config.training.output_root}",
                 f"ui.jobs_root={root / 'jobs'}", f"ui.uploads_root={root / 'uploads'}",
                 "generation.max_new_tokens=8",
                 # the Train form's defaults: a classifier run of ~40 short steps (still running after a
                 # reload, to be cancelled), checkpointed often
                 "training.classifier.method=head", "training.classifier.max_length=64",
                 "training.classifier.epochs=6", "training.checkpoint_every=5",
                 "study.designs=[knowledge]"]  # the Study page's quick check: one design is enough here,
    # and three of its strategies (one of them trained): every strategy of a study is tests/test_study.py's
    study_config = own_documents_config(root, ["zero-shot", "rag", "qa-lora"])
    prepare_demo(load_config(overrides=overrides), DemoSettings(adapter_examples=16, adapter_steps=2))  # reused: ready
    environment = {"WORKBENCH_CONFIG": str(study_config), "WORKBENCH_SET": "\n".join(overrides)}
    with start_streamlit(app_path(), environment, root) as running:
        running.index_root = demo_config.index.root
        yield running


def search_index(server, name: str, query: str):
    """Search an index the server built, in its index root."""
    from workbench.indexing import open_index

    return open_index(name, server.index_root).search(query, k=1)


def open_page(page: Page, server, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    wait_for_app(page)


def test_compare_answers_the_demo_question_with_every_strategy(page: Page, server, tmp_path: Path):
    open_page(page, server)
    expect(page).to_have_url(re.compile(r"/compare$"))  # the root opens Compare at its own address,
    page.reload()  # which serves it too (a bookmark, a shared link)
    wait_for_app(page)
    expect(page.get_by_text("Gold answer: France")).to_be_visible()
    expect(page.get_by_text("demo-lora (lora) was trained on demo corpus QA pairs")).to_be_visible()
    page.get_by_role("button", name="Ask").click()
    wait_for_app(page, timeout_ms=180_000)
    for label in ("zero-shot", "few-shot", "rag", "finetuned[demo-lora]", "rag+finetuned[demo-lora]"):
        expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible()
    expect(page.get_by_text("Sources (3)").first).to_be_visible()
    expect(page.get_by_text("Normans/").first).to_be_visible()
    assert page.get_by_text(re.compile(r"^EM [01] · F1")).count() == 5  # every answer scored against the gold answer
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_upload_a_file_and_build_an_index(page: Page, server, tmp_path: Path):
    notes = tmp_path / "harbour.md"
    notes.write_text("# Port Ellen\n\nThe harbour of Port Ellen opens at dawn and closes at dusk.\n")
    open_page(page, server, "indexes")
    page.get_by_label("Name").fill("harbour")
    page.get_by_label("Name").press("Enter")
    wait_for_app(page)
    page.locator('input[type="file"]').first.set_input_files(str(notes))
    wait_for_app(page)
    page.get_by_role("button", name="Build", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("✅ completed")).to_be_visible(timeout=120_000)
    # the index the job built holds the uploaded file (the manifest grid draws on a canvas: not asserted here)
    hits = search_index(server, "harbour", "When does the harbour open?")
    assert hits and "opens at dawn" in hits[0].text


@pytest.mark.long
def test_training_survives_a_reload_and_can_be_cancelled(page: Page, server):
    """The run goes on in its own process while the tab goes away and comes back; Cancel stops it, and it
    can be resumed (finishing and its summary: test_pages.py)."""
    open_page(page, server, "train")
    page.get_by_role("radiogroup", name="What to train").get_by_text("classifier", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("training: ")).to_be_visible(timeout=120_000)  # steps are being counted
    page.reload()
    wait_for_app(page)
    expect(page.get_by_text("⏳ running")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("⏹ cancelled")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Resume")).to_be_visible()


@pytest.mark.long
def test_study_page_takes_uploaded_documents_to_a_verdict(page: Page, server, tmp_path: Path):
    """Upload, index and write questions (a job), see the checks' counts and the review table, run a quick
    study (a job that survives a reload), and read the verdict with the predictions where strategies disagree."""
    from tests.test_own_documents_end_to_end import own_folder

    docs = own_folder(tmp_path / "docs")
    open_page(page, server, "study")
    page.locator('input[type="file"]').first.set_input_files([str(p) for p in sorted(docs.rglob("*.*"))])
    wait_for_app(page)
    page.get_by_text("Quick check").click()
    page.get_by_role("button", name="Index them and write questions").click()
    expect(page.get_by_text("✅ completed")).to_be_visible(timeout=300_000)
    expect(page.get_by_role("heading", name="2. Review the questions")).to_be_visible()
    expect(page.get_by_text("Kept", exact=True)).to_be_visible()  # with how many each check rejected
    page.get_by_role("button", name="Run the study").click()
    expect(page.get_by_text("⏳ running").or_(page.get_by_text("⏳ starting"))).to_be_visible(timeout=60_000)
    page.reload()  # the study goes on without the tab
    wait_for_app(page)
    expect(page.get_by_text("study of ")).to_be_visible()
    expect(page.get_by_role("heading", name="Verdict")).to_be_visible(timeout=600_000)
    expect(page.get_by_text(re.compile(r"^On these documents \(knowledge design, n = "))).to_be_visible()
    expect(page.get_by_text("Where strategies disagree")).to_be_visible()
    expect(page.get_by_role("button", name="Download the report (Markdown)")).to_be_visible()
