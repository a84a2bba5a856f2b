"""`wb serve`: every strategy behind an OpenAI-compatible API, so that any OpenAI client (the `openai`
package, LangChain, curl) gets the answers the comparison measured.

    GET  /v1/models             zero-shot, few-shot, rag:INDEX, finetuned:RUN, rag+finetuned:INDEX:RUN,
                                then the engine models (the generator and each run) for raw prompts
    POST /v1/chat/completions   the last user message is the question; a system message replaces
                                generation.system_prompt; RAG answers carry `sources` (an extra field)
    POST /v1/completions        a strategy answers the prompt as a question; an engine model continues
                                the raw prompt (text or token ids), with `echo` + `logprobs` for scoring
    GET  /health                liveness, and how many requests wait for the model

Settings come from the session's config; a request's `max_tokens`, `temperature`, `top_p` and `stop`
override them (absent: the config's, greedy by default, so answers equal `wb ask`'s). Requests run in
worker threads and meet in the model's batch scheduler (workbench.generation.batching): concurrent
requests share a batch. Errors are OpenAI-style bodies with a 4xx status, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench.config import ConfigError
from workbench.errors import Failure, UnknownModel, WorkbenchError
from workbench.session import Workbench


class ApiError(Exception):
    """An OpenAI-style error: the status, the message and its `type`/`code`."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.kind, "param": self.param,
                                       "code": self.code}}, status_code=self.status)


class _Request(BaseModel):
    """The fields both endpoints read; other OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: the text ones
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(_Request):
    messages: list[_Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionRequest(_Request):
    max_tokens: int | None = Field(default=None, ge=0)  # 0: score the prompt only (with echo and logprobs)
    prompt: str | list[int] | list[str] | list[list[int]]
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=5)


def create_app(session: Workbench, token: str | None) -> FastAPI:
    """The API over `session`; with `token`, every request must carry it as `Authorization: Bearer`."""
    app = FastAPI(title="workbench", version="1", docs_url=None, redoc_url=None)
    limits = session.config.serve

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if token is not None and not _authorized(request, token):
            return ApiError(401, "missing or wrong bearer token: send Authorization: Bearer <token> (the token in "
                                 "auth.token_file or $" + session.config.auth.token_env + ")",
                            code="invalid_api_key").response()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_request_kb * 1024:
            return ApiError(413, f"the request body is {int(declared) // 1024} KB; serve.max_request_kb is "
                                 f"{limits.max_request_kb}", code="request_too_large").response()
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
        return ApiError(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}", param=where).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return ApiError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None).response()

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        return ApiError(500, f"the server failed: {type(exc).__name__}: {exc}", kind="server_error").response()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", **session.serving_status()}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "workbench"}
                                           for name in session.served_models()]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatRequest):
        question = next((m.text() for m in reversed(body.messages) if m.role == "user"), "")
        system = [m.text() for m in body.messages if m.role in ("system", "developer")]
        overrides = _overrides(body, limits.max_tokens, body.max_completion_tokens)
        if system:
            overrides["generation.system_prompt"] = "\n".join(system)
        bench = _with(session, overrides)
        if body.stream:
            stream = _call(lambda: bench.answer_as(body.model, question, stream=True))
            return _sse(_framed(_answer_chunks(stream, chat=True), "chat.completion.chunk", body.model))
        outcome = _call(lambda: bench.answer_as(body.model, question))
        answer = _answered(outcome)
        return {"id": _id("chatcmpl"), "object": "chat.completion", "created": int(time.time()), "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": answer.finish_reason}],
                "usage": _usage(answer.tokens_in, answer.tokens_out), **_extras(answer)}

    @app.post("/v1/completions")
    def completions(body: CompletionRequest):
        prompt = body.prompt
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], (str, list)):
            if len(prompt) != 1:
                raise ApiError(400, "one prompt per request", param="prompt")
            prompt = prompt[0]
        bench = _with(session, _overrides(body, limits.max_tokens))
        if _is_engine_model(body.model):
            return _raw_completion(bench, body, prompt)
        if not isinstance(prompt, str):
            raise ApiError(400, f"'{body.model}' is a strategy: its prompt is a question (text)", param="prompt")
        if body.stream:
            stream = _call(lambda: bench.answer_as(body.model, prompt, stream=True))
            return _sse(_framed(_answer_chunks(stream, chat=False), "text_completion", body.model))
        answer = _answered(_call(lambda: bench.answer_as(body.model, prompt)))
        return {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": body.model,
                "choices": [{"index": 0, "text": answer.text, "logprobs": None, "finish_reason": answer.finish_reason}],
                "usage": _usage(answer.tokens_in, answer.tokens_out), **_extras(answer)}

    return app


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _overrides(body: _Request, max_tokens_limit: int, max_completion_tokens: int | None = None) -> dict[str, Any]:
    """The request's standard fields as settings (absent ones keep the config's)."""
    values: dict[str, Any] = {}
    wanted = max_completion_tokens or body.max_tokens
    if wanted:
        if wanted > max_tokens_limit:
            raise ApiError(400, f"max_tokens {wanted} is above this server's limit, serve.max_tokens = {max_tokens_limit}",
                           param="max_tokens")
        values["generation.max_new_tokens"] = wanted
    if body.temperature is not None:
        values["generation.do_sample"] = body.temperature > 0
        if body.temperature > 0:
            values["generation.temperature"] = body.temperature
    if body.top_p is not None:
        values["generation.top_p"] = body.top_p
    if body.stop is not None:
        values["generation.stop"] = [body.stop] if isinstance(body.stop, str) else body.stop
    return values


def _with(session: Workbench, overrides: dict[str, Any]) -> Workbench:
    try:
        return session.updated(overrides) if overrides else session
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from None


def _call(make):
    """A session call, its refusals as 4xx: an unknown model is a 404, any other WorkbenchError a 400."""
    try:
        return make()
    except UnknownModel as exc:
        raise ApiError(404, str(exc), code="model_not_found", param="model") from None
    except WorkbenchError as exc:
        raise ApiError(400, str(exc)) from None


def _answered(outcome):
    if outcome.error is not None:
        raise _failure(outcome.error)
    return outcome.answers[0]


def _failure(failure: Failure) -> ApiError:
    """A strategy that failed: the user's input (no index, a bad adapter...) is a 400, the rest a 500."""
    if failure.kind is None:
        return ApiError(400, failure.describe())
    return ApiError(500, failure.describe(), kind="server_error")


def _is_engine_model(model: str) -> bool:
    """Strategies are zero-shot, few-shot and KIND:...; any other name is an engine model (or unknown)."""
    return model not in {"zero-shot", "few-shot"} and ":" not in model


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extras(answer) -> dict:
    """What standard clients ignore: the sources a RAG answer used and how workbench answered."""
    return {"sources": [{"number": s.number, "doc_id": s.doc_id, "score": s.score, "text": s.text, "start": s.start,
                         "end": s.end} for s in answer.sources],
            "workbench": {"strategy": answer.strategy, "answer": answer.text, "raw_text": answer.raw_text,
                          "postprocessing": list(answer.postprocessing), "model": answer.model,
                          "adapter": answer.adapter, "engine": answer.engine,
                          "retrieval_seconds": answer.retrieval_seconds,
                          "generation_seconds": answer.generation_seconds}}


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _raw_completion(session: Workbench, body: CompletionRequest, prompt) -> Any:
    completion = _call(lambda: session.complete(body.model, prompt))
    prompt_part: dict[str, Any] = {}
    if body.echo and body.logprobs is not None:
        logprobs = completion.prompt_logprobs()
        prompt_part = {"tokens": completion.token_texts(completion.prompt_ids), "token_logprobs": logprobs,
                       "token_ids": completion.prompt_ids}
    if body.stream:
        def chunks() -> Iterator[dict]:
            for item in completion.stream():
                if isinstance(item, str):
                    yield {"choices": [{"index": 0, "text": item, "logprobs": None, "finish_reason": None}]}
                else:
                    yield {"choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": item.finish_reason}],
                           "usage": _usage(item.tokens_in, item.tokens_out)}
        return _sse(_framed(chunks(), "text_completion", body.model))
    if body.max_tokens == 0 or (body.echo and body.logprobs is not None and body.max_tokens is None):
        text, reason, out = "", "length", 0
    else:
        generation = completion.generate()
        text, reason, out = generation.text, generation.finish_reason, generation.tokens_out
    echoed = ("".join(completion.token_texts(completion.prompt_ids)) if body.echo else "") + text
    return {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": body.model,
            "choices": [{"index": 0, "text": echoed, "logprobs": prompt_part or None, "finish_reason": reason}],
            "usage": _usage(len(completion.prompt_ids), out)}


def _answer_chunks(stream, chat: bool) -> Iterator[dict]:
    """A strategy's streamed answer as chunks: the text pieces (a chat `delta`, or completion `text`),
    then the finish reason, usage, sources and workbench's fields."""
    def choice(text: str | None, finish: str | None) -> dict:
        if chat:
            return {"index": 0, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}

    if chat:
        yield {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for _, item in stream:
        if isinstance(item, str):
            yield {"choices": [choice(item, None)]}
        elif isinstance(item, Failure):
            raise _failure(item)
        else:
            yield {"choices": [choice(None, item.finish_reason)], "usage": _usage(item.tokens_in, item.tokens_out),
                   **_extras(item)}


def _framed(chunks: Iterator[dict], kind: str, model: str) -> Iterator[dict]:
    ident, created = _id("cmpl" if kind == "text_completion" else "chatcmpl"), int(time.time())
    for chunk in chunks:
        yield {"id": ident, "object": kind, "created": created, "model": model, **chunk}


def _sse(chunks: Iterator[dict]) -> StreamingResponse:
    return StreamingResponse(_events(chunks), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(chunks: Iterator[dict]) -> AsyncIterator[str]:
    """Server-sent events from a blocking iterator, pulled in a worker thread. A client that goes away
    cancels this coroutine: the iterator is then closed (as soon as its current piece arrives), which
    stops its rows in the batch (`BatchScheduler`: the slot is freed)."""
    lock = threading.Lock()

    def pull():
        with lock:
            return next(chunks, None)

    finished = False
    try:
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(pull, abandon_on_cancel=True)
            except ApiError as exc:
                yield f"data: {json.dumps({'error': {'message': exc.message, 'type': exc.kind}})}\n\n"
                break
            if chunk is None:
                break
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        if not finished:
            threading.Thread(target=_close_when_free, args=(chunks, lock), daemon=True).start()


def _close_when_free(chunks: Iterator[dict], lock: threading.Lock) -> None:
    with lock:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()



def run_server(session: Workbench, host: str, port: int, token: str | None) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn finishes the requests in flight, then returns)."""
    import uvicorn

    uvicorn.run(create_app(session, token), host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
