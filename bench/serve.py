"""Serving measured: throughput and p50/p95 latency at 1, 4 and 16 concurrent clients, for the API
(`wb serve` and the official `openai` client), for the UI (browser tabs pressing Ask at once), and for
the same strategies answered by llama.cpp's `llama-server` through `generation.backend: openai`, with
the agreement of its greedy answers with our engine's. Writes bench/results/serve.md.

    .venv/bin/python bench/serve.py [--llama-server PATH] [--skip-ui]

SmolLM2-135M (the suite's generator), the demo index, RAG answers of at most 24 tokens. llama.cpp is not a
dependency: give the path of a `llama-server` built for the benchmark (docs/serve.md says how).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ui.conftest import CHROMIUM_ARGS, _free_port, chromium_path  # noqa: E402
from workbench.cli.ui import streamlit_command  # noqa: E402
from workbench.config import CONFIG_ENV, OVERRIDES_ENV, load_config  # noqa: E402
from workbench.corpus import load_demo_corpus  # noqa: E402
from workbench.models.registry import shipped_gguf  # noqa: E402
from workbench.requests import StrategyOptions  # noqa: E402
from workbench.session import Workbench, demo_ui_overrides  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serve.md"
GENERATOR_CONFIG = ROOT / "tests" / "smaller-generator.yaml"  # SmolLM2-135M, as the experiments and the suite
LEVELS = (1, 4, 16)
MAX_TOKENS = 24
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def load(call: Callable[[str], int], questions: list[str], clients: int) -> dict:
    """`clients` callers at once, each asking its share of `max(8, 2 * clients)` questions in turn;
    latency per request, requests and generated tokens per second over the whole run."""
    count = max(8, 2 * clients)
    asked = [questions[i % len(questions)] for i in range(count)]

    def timed(question: str) -> tuple[float, int]:
        started = time.perf_counter()
        tokens = call(question)
        return time.perf_counter() - started, tokens

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(timed, asked))
    wall = time.perf_counter() - started
    latencies = sorted(seconds for seconds, _ in results)
    return {"clients": clients, "requests": count, "wall_s": wall, "requests_per_s": count / wall,
            "tokens_per_s": sum(tokens for _, tokens in results) / wall, "p50_s": statistics.median(latencies),
            "p95_s": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]}


def wait_for(url: str, process: subprocess.Popen, headers: dict | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({process.returncode})")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url}: no answer within {timeout:.0f} s")
        time.sleep(0.3)


def api_rows(work: Path, questions: list[str]) -> list[dict]:
    """`wb serve` in its own process, asked by the official client from threads."""
    import openai

    port = _free_port()
    env = {**os.environ, CONFIG_ENV: str(GENERATOR_CONFIG), "TQDM_DISABLE": "1"}
    wb = [sys.executable, "-c", "import sys; from workbench.cli.main import main; sys.exit(main())"]
    process = subprocess.Popen([*wb, "serve", "--port", str(port), "--set", f"index.root={work / 'indexes'}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=900)

        def call(question: str) -> int:
            reply = client.chat.completions.create(model="rag:demo", max_tokens=MAX_TOKENS,
                                                   messages=[{"role": "user", "content": question}])
            return reply.usage.completion_tokens

        call(questions[0])  # warm: the models load
        rows = [load(call, questions, clients) for clients in LEVELS]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as reply:
            batches = json.load(reply)["batches"]
        print(f"API: {batches} batches for {1 + sum(r['requests'] for r in rows)} requests", file=sys.stderr)
        return rows
    finally:
        process.terminate()
        process.wait(30)


def session_rows(bench: Workbench, questions: list[str]) -> tuple[list[dict], list[str]]:
    """The strategies in this process (as the UI calls them), asked from threads; and the greedy
    answers to every question, one by one, for the agreement between engines."""
    options = StrategyOptions(index="demo")

    def call(question: str) -> int:
        [outcome] = bench.ask(question, ["rag"], options)
        if outcome.error:
            raise RuntimeError(outcome.error.describe())
        return outcome.answers[0].tokens_out

    answers = [bench.ask(q, ["rag"], options)[0].answers[0].text for q in questions]  # warm, and the answers
    return [load(call, questions, clients) for clients in LEVELS], answers


def decode_rate(bench: Workbench, model: str) -> float:
    """Tokens per second of one long greedy continuation (no batching): the engine's decoding speed."""
    completion = bench.updated({"generation.max_new_tokens": 128}).complete(model, "1, 2, 3, 4,")
    started = time.perf_counter()
    generation = completion.generate()
    return generation.tokens_out / (time.perf_counter() - started)


def llama_rows(server: Path, gguf: Path, work: Path, questions: list[str], local_answers: list[str]) -> dict:
    """llama-server on `gguf` (16 slots), behind the same strategies."""
    import openai

    port = _free_port()
    process = subprocess.Popen([str(server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-t", "2",
                                "-np", "16", "-c", str(16 * 2048), "--no-webui"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        url = f"http://127.0.0.1:{port}/v1"
        config = load_config(GENERATOR_CONFIG, [f"index.root={work / 'indexes'}", "generation.backend=openai",
                                                f"generation.openai.url={url}",
                                                f"generation.max_new_tokens={MAX_TOKENS}"])
        rows, answers = session_rows(Workbench(config), questions)
        client = openai.OpenAI(base_url=url, api_key="none")
        started = time.perf_counter()
        reply = client.completions.create(model="smollm2", prompt="1, 2, 3, 4,", max_tokens=128, temperature=0)
        rate = reply.usage.completion_tokens / (time.perf_counter() - started)
        same = sum(a == b for a, b in zip(answers, local_answers))
        return {"rows": rows, "decode_tokens_per_s": rate, "agreement": same, "questions": len(questions)}
    finally:
        process.terminate()
        process.wait(30)


def ggufs(bench: Workbench, work: Path) -> dict[str, Path]:
    """The shipped Q4_1 file our engine dequantizes, and the float32 weights our engine runs, as GGUF
    (written by `wb export`'s writer)."""
    from transformers import AutoModelForCausalLM

    from workbench.models.gguf_export import write_gguf
    from workbench.models.registry import resolve

    name = bench.config.models.generator
    model = AutoModelForCausalLM.from_pretrained(resolve(name, "generator"))  # not the pool's copy, whose
    f32 = work / "smollm2-f32.gguf"                                           # output layer is CPU-specialised
    write_gguf(model, bench.models.generator(name, "cpu").tokenizer, f32, dtype="f32")
    return {"float32 (the weights our engine runs)": f32,
            "Q4_1 (the shipped file)": shipped_gguf("smollm2-135m-instruct", work)}


def ui_rows(work: Path, overrides: list[str]) -> list[dict]:
    """`tabs` browser tabs on the Compare page press Ask (the demo question, five strategies) at once:
    seconds from each click until its page shows every answer."""
    from playwright.sync_api import sync_playwright

    config = load_config(GENERATOR_CONFIG, [*overrides, f"ui.port={_free_port()}"])
    env = {**os.environ, CONFIG_ENV: str(GENERATOR_CONFIG), OVERRIDES_ENV: "\n".join(overrides)}
    process = subprocess.Popen(streamlit_command(config), cwd=work, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{config.ui.port}"
    rows = []
    try:
        wait_for(f"{url}/_stcore/health", process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            for tabs in (1, *LEVELS):  # the first round warms the models up and is not reported
                pages = []
                for _ in range(tabs):
                    page = browser.new_page(viewport={"width": 1500, "height": 1100})
                    page.goto(url)
                    page.get_by_role("button", name="Ask").wait_for(timeout=300_000)
                    page.wait_for_selector(READY, timeout=300_000)
                    pages.append(page)
                began = time.perf_counter()
                clicked = []
                for page in pages:
                    page.get_by_role("button", name="Ask").click()
                    clicked.append(time.perf_counter())
                done = []
                for page, at in zip(pages, clicked):
                    page.wait_for_timeout(300)
                    page.wait_for_selector(READY, timeout=1_800_000)
                    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
                    assert not errors, errors
                    done.append(time.perf_counter() - at)
                wall = time.perf_counter() - began
                for page in pages:
                    page.close()
                rows.append({"clients": tabs, "requests": tabs, "wall_s": wall, "requests_per_s": tabs / wall,
                             "p50_s": statistics.median(done), "p95_s": sorted(done)[round(0.95 * (len(done) - 1))],
                             "each_s": done})
            browser.close()
    finally:
        process.terminate()
        process.wait(30)
    return rows[1:]


def table(rows: list[dict], tokens: bool = True) -> list[str]:
    head = "| clients | requests | requests/s | " + ("tokens/s | " if tokens else "") + "p50 latency | p95 latency |"
    lines = [head, "|---:|---:|---:|" + ("---:|" if tokens else "") + "---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['requests_per_s']:.2f} | "
                     + (f"{r['tokens_per_s']:.1f} | " if tokens else "") + f"{r['p50_s']:.1f} s | {r['p95_s']:.1f} s |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-server", type=Path, help="a llama.cpp `llama-server` binary")
    parser.add_argument("--skip-ui", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wb-bench-serve-"))
    overrides = [f"index.root={work / 'indexes'}", f"training.output_root={work / 'runs'}",
                 f"ui.jobs_root={work / 'jobs'}", f"ui.uploads_root={work / 'uploads'}"]
    config = load_config(GENERATOR_CONFIG, [*overrides, f"generation.max_new_tokens={MAX_TOKENS}"])
    bench = Workbench(config)
    print("preparing the demo index and adapter...", file=sys.stderr, flush=True)
    bench.prepare_demo()
    questions = [pair.question for pair in load_demo_corpus().qa_pairs[::50]][:16]  # 16 articles
    load_before = os.getloadavg()[0]
    files = ggufs(bench, work) if args.llama_server else {}

    print("API...", file=sys.stderr, flush=True)
    api = api_rows(work, questions)
    print("our engine, in process...", file=sys.stderr, flush=True)
    local, local_answers = session_rows(bench, questions)
    local_rate = decode_rate(bench, config.models.generator)
    llama = {}
    if args.llama_server:
        for label, gguf in files.items():
            print(f"llama.cpp, {label}...", file=sys.stderr, flush=True)
            llama[label] = llama_rows(args.llama_server, gguf, work, questions, local_answers)
    ui = None
    if not args.skip_ui:
        print("UI...", file=sys.stderr, flush=True)
        ui = ui_rows(work, [*overrides, *demo_ui_overrides()])

    lines = ["# Serving", "",
             f"`.venv/bin/python bench/serve.py{' --llama-server PATH' if llama else ''}` on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores (load average {load_before:.1f} when it started; nothing else running), "
             f"{time.strftime('%Y-%m-%d')}. SmolLM2-135M-Instruct, RAG over the demo index (k from the config), "
             f"answers of at most {MAX_TOKENS} tokens, greedy; 16 demo-corpus questions (one per article) in turn. Each level sends "
             "max(8, 2 x clients) requests from that many client threads; latency per request, throughput over "
             "the level's wall time. Concurrent requests meet in the model's batch scheduler "
             "(workbench/generation/batching.py): those waiting while a batch runs share the next one, up to "
             f"generation.max_batch_rows = {config.generation.max_batch_rows} rows.", "",
             "## API: `wb serve`, the official `openai` client (chat completions, `rag:demo`)", "", *table(api), "",
             "## The same strategies in process (what the UI's pages call), our engine", "", *table(local), ""]
    for label, measured in llama.items():
        lines += [f"## The same strategies answered by llama.cpp, {label} (`generation.backend: openai`)", "",
                  "llama-server (CPU build, 2 threads, 16 slots); prompts rendered and budgeted by workbench, sent "
                  "as token ids.", "", *table(measured["rows"]), "",
                  f"- greedy answers equal to our engine's: {measured['agreement']} of {measured['questions']} questions",
                  f"- decoding one long continuation (128 tokens, no batching): llama.cpp "
                  f"{measured['decode_tokens_per_s']:.1f} tokens/s, our engine {local_rate:.1f} tokens/s", ""]
    if not llama:
        lines += [f"Decoding one long continuation (128 tokens, no batching): our engine {local_rate:.1f} tokens/s.", ""]
    if ui:
        lines += ["## UI: browser tabs pressing Ask at once", "",
                  "Debian chromium via Playwright, N tabs on the Compare page of one `streamlit run` server "
                  "(as `wb ui` starts it), each asking the demo question with the five strategies (zero-shot, "
                  "few-shot, RAG, finetuned, RAG + finetuned, the demo LoRA run); latency from each click to "
                  "every answer on that tab's screen. A first round warms the models and is not counted.", "",
                  *table(ui, tokens=False), "",
                  "Each tab: " + "; ".join(f"{r['clients']} tab(s): " + ", ".join(f"{s:.0f}" for s in r["each_s"]) + " s"
                                           for r in ui), ""]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
