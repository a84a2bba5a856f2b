"""`wb serve` with the official `openai` client: a real server (SmolLM2, the demo's index and LoRA run)
on a free localhost port, listening on every address behind a token. Every strategy answers as `wb ask`
does, streams, refuses what it should with OpenAI-style errors, batches concurrent requests, frees a
disconnected client's row, and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time

import httpx
import openai
import pytest

from tests.processes import WB, _environment
from workbench.cli.main import main

TOKEN = "test-token-for-the-api"
QUESTION = "Which river flows through the city?"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    """(base url, config file, process): `wb serve` on 0.0.0.0 with a token, over the demo's index and run."""
    config, _ = demo
    folder = tmp_path_factory.mktemp("serve")
    port = _free_port()
    settings = folder / "serve.yaml"
    settings.write_text(json.dumps({"models": {"generator": config.models.generator},
                                    "index": {"root": str(config.index.root)},
                                    "training": {"output_root": str(config.training.output_root)},
                                    "serve": {"host": "0.0.0.0", "port": port, "max_tokens": 4000,
                                              "max_request_kb": 16},
                                    "generation": {"max_new_tokens": 16}}))
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen([*WB, "serve", "--config", str(settings)], stdout=log, stderr=subprocess.STDOUT,
                               env={**_environment(), "WORKBENCH_TOKEN": TOKEN})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, (folder / "serve.log").read_text()
        try:
            if httpx.get(f"{base}/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.3)
    yield base, settings, process
    if process.poll() is None:
        process.kill()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=TOKEN, max_retries=0)


STRATEGIES = ["zero-shot", "few-shot", "rag:demo", "finetuned:demo-lora", "rag+finetuned:demo:demo-lora"]


def test_models_lists_every_strategy_and_the_engine_models(client):
    names = [model.id for model in client.models.list()]
    assert names[:5] == STRATEGIES
    assert "smollm2-135m-instruct" in names and "demo-lora" in names


def test_every_strategy_answers_as_wb_ask_does(server, client, capsys):
    _, settings, _ = server
    capsys.readouterr()
    assert main(["ask", QUESTION, "--config", str(settings), "--json", "--index", "demo", "--adapter",
                 f"demo-lora={_run(settings)}", "--strategy", "zero-shot,few-shot,rag,finetuned,rag+finetuned"]) in (0, None)
    expected = {row["strategy"].split("[")[0]: row["answer"] for row in json.loads(capsys.readouterr().out)}
    for model in STRATEGIES:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
        answer = expected[model.split(":")[0]]
        assert reply.choices[0].message.content == answer["text"], model
        assert reply.usage.prompt_tokens == answer["tokens_in"]
        sources = reply.model_extra["sources"]
        assert [s["doc_id"] for s in sources] == [s["doc_id"] for s in answer["sources"]], model
        assert bool(sources) == model.startswith("rag")


def _run(settings) -> str:
    return str(json.loads(settings.read_text())["training"]["output_root"] + "/demo-lora")


def test_chat_streams_pieces_then_the_finish_and_sources(client):
    chunks = list(client.chat.completions.create(model="rag:demo", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert len(chunks) > 3 and last.choices[0].finish_reason in ("stop", "length")
    assert text == last.model_extra["workbench"]["raw_text"] and last.model_extra["sources"]
    whole = client.chat.completions.create(model="rag:demo", messages=[{"role": "user", "content": QUESTION}])
    assert last.model_extra["workbench"]["answer"] == whole.choices[0].message.content


def test_completions_answer_a_question_or_continue_a_raw_prompt(client):
    chat = client.chat.completions.create(model="zero-shot", messages=[{"role": "user", "content": QUESTION}])
    completion = client.completions.create(model="zero-shot", prompt=QUESTION)
    assert completion.choices[0].text == chat.choices[0].message.content
    raw = client.completions.create(model="smollm2-135m-instruct", prompt="1, 2, 3, 4,", max_tokens=6, stop=["9"])
    assert raw.choices[0].text.startswith(" 5") and "9" not in raw.choices[0].text
    scored = client.completions.create(model="demo-lora", prompt=[1, 4093, 28, 2], max_tokens=0, echo=True, logprobs=0)
    assert scored.choices[0].logprobs.token_logprobs[0] is None and len(scored.choices[0].logprobs.token_logprobs) == 4
    assert all(value < 0 for value in scored.choices[0].logprobs.token_logprobs[1:])


def test_bad_requests_get_openai_style_errors(server, client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="rag:nowhere", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="max_tokens 5000 is above"):
        client.chat.completions.create(model="zero-shot", max_tokens=5000, messages=[{"role": "user", "content": "hi"}])
    base = server[0]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    malformed = httpx.post(f"{base}/v1/chat/completions", headers=auth, content=b"{not json")
    assert malformed.status_code == 400 and "error" in malformed.json()
    missing = httpx.post(f"{base}/v1/chat/completions", headers=auth, json={"model": "zero-shot"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
    big = httpx.post(f"{base}/v1/chat/completions", headers=auth,
                     json={"model": "zero-shot", "messages": [{"role": "user", "content": "x" * 20000}]})
    assert big.status_code == 413 and "max_request_kb" in big.json()["error"]["message"]


def test_a_request_without_the_token_is_refused(server):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server[0]}/v1", api_key="wrong", max_retries=0).models.list()
    assert httpx.get(f"{server[0]}/v1/models").status_code == 401


def test_concurrent_requests_share_batches_and_get_their_own_answers(server, client):
    questions = [QUESTION, "Who wrote the article?", "What year is mentioned?", "Where is the university?"]
    alone = [client.chat.completions.create(model="zero-shot", max_tokens=24, messages=[{"role": "user", "content": q}])
             .choices[0].message.content for q in questions]
    before = _health(server)["batches"]
    together: list = [None] * 4

    def ask(i: int) -> None:
        reply = client.chat.completions.create(model="zero-shot", max_tokens=24,
                                               messages=[{"role": "user", "content": questions[i]}])
        together[i] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone
    assert _health(server)["batches"] - before < 4, "requests waiting together share a batch"


def _health(server) -> dict:
    return httpx.get(f"{server[0]}/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()


def test_a_client_that_disconnects_mid_stream_frees_its_row(server, client):
    stream = client.completions.create(model="smollm2-135m-instruct", prompt="1, 2, 3, 4,", max_tokens=4000,
                                       stream=True)
    next(iter(stream))
    assert _health(server)["generating"]
    stream.close()
    deadline = time.monotonic() + 60  # 4000 tokens would take minutes
    while _health(server)["generating"]:
        assert time.monotonic() < deadline, "the disconnected client's row kept generating"
        time.sleep(0.2)


def test_the_openai_backend_gives_the_local_engines_answers(server, demo, monkeypatch):
    """Strategies whose generation runs on an OpenAI-compatible server (here `wb serve` itself, as vLLM or
    llama.cpp would be): the same answers, streamed too, the LoRA run by its served name, choices scored
    from the server's prompt log-probabilities; each answer says which engine gave it."""
    from workbench.requests import StrategyOptions
    from workbench.session import Workbench

    config, _ = demo
    monkeypatch.setenv("WB_TEST_SERVER_TOKEN", TOKEN)
    local = Workbench(config.updated({"generation.max_new_tokens": 16}))
    remote = local.updated({"generation.backend": "openai", "generation.openai.url": f"{server[0]}/v1",
                            "generation.openai.api_key_env": "WB_TEST_SERVER_TOKEN"})
    options = StrategyOptions(index="demo", adapters=(f"demo-lora={config.training.output_root / 'demo-lora'}",))
    names = ["zero-shot", "rag", "finetuned", "rag+finetuned"]
    here, there = local.ask(QUESTION, names, options), remote.ask(QUESTION, names, options)
    assert [o.error for o in there] == [None] * 4
    assert [o.answers[0].text for o in there] == [o.answers[0].text for o in here]
    assert {o.answers[0].engine for o in there} == {f"openai:{server[0]}/v1"} and here[0].answers[0].engine == "local"
    assert [o.answers[0].tokens_in for o in there] == [o.answers[0].tokens_in for o in here]
    streamed = remote.ask(QUESTION, ["rag"], options, stream=True).outcomes()
    assert streamed[0].answers[0].text == here[1].answers[0].text
    labels = ["positive", "negative"]
    for bench in (local, remote):
        strategy = bench._factory(options).build("zero-shot")[0]
        [choice] = strategy.choose_many(["The film was wonderful."], labels)
        if bench is local:
            expected = choice.choices
    assert choice.choices.keys() == expected.keys()
    assert all(abs(choice.choices[k] - expected[k]) < 1e-3 for k in labels)


def test_sigterm_stops_the_server_and_frees_its_port(server):
    base, _, process = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the clients' closed connections linger
        probe.bind(("0.0.0.0", port))  # nothing listens there any more


def test_a_network_address_without_a_token_is_refused(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--set", "auth.token_env=WB_TEST_NO_SUCH_TOKEN"]) != 0
    refused = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without sign-in" in refused and "WB_TEST_NO_SUCH_TOKEN" in refused
