"""The browser UI measured as a user meets it: server start to page ready, first token and all answers
for a demo question with the five strategies, and the server's memory with LoRA and IA3 adapters
loaded (two types peft cannot hold on one model: the second gets its own copy).

A real `streamlit run` of the app (the command `wb ui` runs) and Debian's chromium driven by
Playwright, on the demo index and two tiny adapters trained here. Writes bench/results/ui.md.

    .venv/bin/python bench/ui.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ui.conftest import CHROMIUM_ARGS, _free_port, chromium_path  # noqa: E402
from workbench.cli.ui import streamlit_command  # noqa: E402
from workbench.config import OVERRIDES_ENV, load_config  # noqa: E402
from workbench.demo import DemoSettings  # noqa: E402
from workbench.requests import GeneratorRequest  # noqa: E402
from workbench.session import Workbench, demo_ui_overrides  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ui.md"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def start_server(overrides: list[str], cwd: Path) -> tuple[subprocess.Popen, str, float]:
    """The app as `wb ui` serves it; returns the process, its URL and the seconds until /_stcore/health."""
    config = load_config(overrides=[*overrides, f"ui.port={_free_port()}"])
    started = time.perf_counter()
    process = subprocess.Popen(streamlit_command(config), cwd=cwd, env={**os.environ, OVERRIDES_ENV: "\n".join(overrides)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{config.ui.port}"
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as reply:
                if reply.read() == b"ok":
                    return process, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)


def settle(page) -> None:
    page.wait_for_timeout(200)
    page.wait_for_selector(READY, timeout=600_000)


def rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of the server and its children (jobs excluded: none run here)."""
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def ask(page) -> tuple[float, float]:
    """Click Ask; seconds to the first streamed piece on screen, and to every answer shown."""
    started = time.perf_counter()
    page.get_by_role("button", name="Ask").click()
    page.wait_for_selector('[data-testid="stText"]', timeout=600_000)
    first = time.perf_counter() - started
    settle(page)
    return first, time.perf_counter() - started


def pick_runs(page, names: list[str]) -> None:
    """Select exactly these runs in the sidebar's "Finetuned runs" multiselect."""
    box = page.locator('[data-testid="stMultiSelect"]').nth(1)
    for clear in box.get_by_role("button", name="Clear all").all():
        clear.click()
        settle(page)
    for name in names:
        box.click()
        page.get_by_role("option", name=name, exact=True).click()
        settle(page)
    page.keyboard.press("Escape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="wb-bench-ui-"))
    overrides = [f"index.root={work / 'indexes'}", f"training.output_root={work / 'runs'}",
                 f"ui.jobs_root={work / 'jobs'}", f"ui.uploads_root={work / 'uploads'}", *demo_ui_overrides()]
    config = load_config(overrides=overrides)
    print("preparing the demo index and adapter, and an IA3 adapter...", file=sys.stderr, flush=True)
    bench = Workbench(config)
    bench.prepare_demo()
    bench.updated({"training.generator.method": "ia3", "training.max_steps": 2}).train(
        GeneratorRequest(output=work / "runs" / "demo-ia3"))

    rows, start_s, ready_s, first_cold, all_cold, first_warm, all_warm = [], [], [], [], [], [], []
    memory: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        for round_ in range(args.rounds):
            process, url, health = start_server(overrides, work)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                began = time.perf_counter()
                page.goto(url)
                page.get_by_role("button", name="Ask").wait_for(timeout=120_000)
                settle(page)
                start_s.append(health)
                ready_s.append(health + time.perf_counter() - began)
                pick_runs(page, ["demo-lora"])  # the newest run (IA3) is preselected
                idle = rss_mb(process)
                first, whole = ask(page)  # cold: the models load on this first question
                first_cold.append(first)
                all_cold.append(whole)
                first, whole = ask(page)
                first_warm.append(first)
                all_warm.append(whole)
                if round_ == 0:
                    memory["server idle, page open"] = idle
                    memory["after the five strategies (base model + LoRA adapter)"] = rss_mb(process)
                    pick_runs(page, ["demo-lora", "demo-ia3"])
                    ask(page)
                    memory["LoRA and IA3 both answering (IA3 on an extra model copy)"] = rss_mb(process)
                    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
                    assert not errors, errors
                page.close()
            finally:
                process.terminate()
                process.wait(30)
        browser.close()

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f})"

    rows = [("server start to /_stcore/health", cell(start_s)),
            ("server start to the Compare page ready in the browser", cell(ready_s)),
            ("first question after start: first token on screen", cell(first_cold)),
            ("first question after start: all five answers shown", cell(all_cold)),
            ("next question: first token on screen", cell(first_warm)),
            ("next question: all five answers shown", cell(all_warm))]
    lines = ["# Browser UI", "",
             f"`.venv/bin/python bench/ui.py --rounds {args.rounds}` on this project's 2-core CPU machine (quiet), "
             "Debian chromium via Playwright against `streamlit run ui/app.py` exactly as `wb ui` starts it; "
             "the demo index (276 chunks) and demo LoRA adapter; the demo question \"In what country is Normandy "
             f"located?\" asked with zero-shot, few-shot, RAG, finetuned and RAG + finetuned (answers of at most "
             f"{DemoSettings().max_new_tokens} tokens, as `make demo` serves it). Median of {args.rounds} fresh "
             "server starts. Answers stream strategy by strategy (one generation at a time on the shared model).",
             "", "| what | time |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows], "",
             "Resident memory of the server process (psutil, the process and its children):", "",
             "| state | RSS |", "|---|---|", *[f"| {k} | {v:.0f} MB |" for k, v in memory.items()], "",
             "SmolLM2-135M in float32 is 515 MB of parameters: the IA3 adapter cannot share the LoRA adapter's model "
             "(peft switches their layers together), so it answers on an extra copy, within `models.extra_copies_mb`."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
