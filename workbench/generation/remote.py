"""`generation.backend: openai`: the strategies' prompts, rendered and budgeted here with the model's own
tokenizer and chat template, answered by an OpenAI-compatible server: vLLM on a GPU, llama.cpp's
`llama-server` on a CPU, or another `wb serve`. Prompts go as token ids, so the server reads exactly
the tokens the local engine would; greedy answers then match the local engine's (tested against
`wb serve`). A LoRA run is asked for by its served name (vLLM's `--lora-modules NAME=PATH`); other
finetuned runs stay on the local engine (`StrategyFactory`). Every answer records which engine gave it.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.generation.batching import _FIRST_LINE
from workbench.generation.engine import Adapters, Generation, GenerationEngine, GenerationSettings, _row_keys
from workbench.models.adapter_files import open_adapter_folder
from workbench.models.prompt_format import load_tokenizer
from workbench.models.registry import resolve
from workbench.progress import ProgressCallback, start_stage


class RemoteEngineError(WorkbenchError):
    pass


class RemoteEngine(GenerationEngine):
    """A `GenerationEngine` whose generation happens on an OpenAI-compatible server (`served`: the model
    name there). Concurrent requests (`batch_size` at a time) let the server batch them."""

    def __init__(self, name: str, tokenizer, window: int, settings: GenerationSettings, url: str, served: str,
                 api_key: str | None, timeout_s: float):
        import openai

        self.generator = None  # no local model: the factory keeps a local engine for runs the server cannot answer
        self.name, self.tokenizer, self.settings, self.url, self.served = name, tokenizer, settings, url, served
        self.window = min(w for w in (window, settings.context_window) if w)
        self.prompt_limit = self.window - settings.max_new_tokens
        self.client = openai.OpenAI(base_url=url, api_key=api_key or "none", timeout=timeout_s, max_retries=1)

    @classmethod
    def for_model(cls, config: Config, served: str | None = None, first_line_only: bool = False) -> RemoteEngine:
        """The config's generator (its tokenizer and window read locally, no weights) answered remotely
        as `served` (default: generation.openai.model, else models.generator)."""
        import os

        name, remote = config.models.generator, config.generation.openai
        tokenizer, window = _tokenizer_and_window(name)
        return cls(name, tokenizer, window, GenerationSettings.from_config(config, first_line_only),
                   remote.url, served or remote.model or name, os.environ.get(remote.api_key_env), remote.timeout_s)

    @property
    def model_name(self) -> str:
        return self.served

    @property
    def engine_name(self) -> str:
        return f"openai:{self.url}"

    def can_share_batch(self, keys: Sequence[str | None]) -> bool:
        return len(set(keys)) <= 1

    def generate(self, prompts: Sequence[list[int]], adapter: Adapters = None,
                 progress: ProgressCallback | None = None) -> list[Generation]:
        _row_keys(adapter, len(prompts))  # the served model is the adapter: keys must be None
        generating = start_stage(progress, "generating", len(prompts))

        def one(prompt: list[int]) -> Generation:
            generation = self._complete(prompt)
            generating.advance(1)
            return generation

        with ThreadPoolExecutor(max_workers=self.settings.batch_size) as pool:
            return list(pool.map(one, prompts))

    def stream_rows(self, prompts: Sequence[list[int]], adapter: Adapters = None
                    ) -> Iterator[tuple[int, str | Generation]]:
        pieces: queue.Queue = queue.Queue()

        def run(row: int, prompt: list[int]) -> None:
            try:
                pieces.put((row, self._complete(prompt, lambda piece: pieces.put((row, piece)))))
            except Exception as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                pieces.put((row, exc))

        for row, prompt in enumerate(prompts):
            threading.Thread(target=run, args=(row, list(prompt)), daemon=True).start()
        finished: dict[int, Generation] = {}
        while len(finished) < len(prompts):
            row, item = pieces.get()
            if isinstance(item, Exception):
                raise item
            if isinstance(item, Generation):
                finished[row] = item
            else:
                yield row, item
        for row in range(len(prompts)):
            yield row, finished[row]

    def prompt_logprobs(self, prompt: list[int], adapter: str | None = None) -> list[float | None]:
        """Each prompt token's log-probability, from the server's `echo` with `logprobs` (vLLM and
        `wb serve` give them; llama.cpp's server does not: a clear error)."""
        reply = self._call(lambda: self.client.completions.create(model=self.served, prompt=prompt, max_tokens=0,
                                                                   echo=True, logprobs=0))
        values = getattr(reply.choices[0].logprobs, "token_logprobs", None) if reply.choices[0].logprobs else None
        if not values or len(values) < len(prompt):
            raise RemoteEngineError(f"{self.url} does not return prompt log-probabilities (echo with logprobs): "
                                    "likelihood scoring (classification by choices) needs vLLM or the local engine")
        return list(values[:len(prompt)])

    def continuation_logprobs(self, prompt: list[int], continuations: Sequence[list[int]],
                              adapter: str | None = None) -> list[float]:
        totals = []
        for continuation in continuations:
            values = self.prompt_logprobs(prompt + list(continuation))
            totals.append(float(sum(values[len(prompt):])))
        return totals

    def _complete(self, prompt: list[int], on_piece=None) -> Generation:
        """One prompt's answer; streamed (pieces to `on_piece`) when asked, or when the answer keeps its
        first line only: the stream is closed once that line is complete, as the local engine stops."""
        s = self.settings
        request = {"model": self.served, "prompt": prompt, "max_tokens": s.max_new_tokens,
                   "temperature": s.temperature if s.do_sample else 0.0, "top_p": s.top_p if s.do_sample else 1.0}
        if s.stop:
            request["stop"] = list(s.stop)
        started = time.perf_counter()
        if on_piece is None and not s.first_line_only:
            reply = self._call(lambda: self.client.completions.create(**request))
            choice = reply.choices[0]
            tokens_out = reply.usage.completion_tokens if reply.usage else len(self.encode(choice.text))
            return Generation(choice.text, len(prompt), tokens_out, time.perf_counter() - started,
                              choice.finish_reason or "stop")
        text, reason, tokens_out = "", "stop", None
        stream = self._call(lambda: self.client.completions.create(**request, stream=True))
        try:
            for chunk in stream:
                if not chunk.choices:
                    continue
                piece = chunk.choices[0].text or ""
                if piece:
                    text += piece
                    if on_piece is not None:
                        on_piece(piece)
                reason = chunk.choices[0].finish_reason or reason
                if chunk.usage:
                    tokens_out = chunk.usage.completion_tokens
                if s.first_line_only and _FIRST_LINE.search(text):
                    reason = "stop"
                    break
        finally:
            stream.close()
        return Generation(text, len(prompt), tokens_out if tokens_out is not None else len(self.encode(text)),
                          time.perf_counter() - started, reason)

    def _call(self, request):
        import openai

        try:
            return request()
        except openai.APIConnectionError as exc:
            raise RemoteEngineError(f"cannot reach the generation server at {self.url} ({exc}); start it, or set "
                                    "generation.backend: local") from None
        except openai.APIStatusError as exc:
            raise RemoteEngineError(f"the generation server at {self.url} refused the request "
                                    f"({exc.status_code}: {exc.message})") from None


@functools.cache
def _tokenizer_and_window(name: str) -> tuple[object, int]:
    """Model `name`'s tokenizer and context window, read once per process (a server builds its strategies,
    and so this engine, for every request)."""
    from transformers import AutoConfig

    source = resolve(name, "generator")
    return load_tokenizer(source, name), getattr(AutoConfig.from_pretrained(source), "max_position_embeddings", None) or 0


def served_as_lora(path: str | Path) -> bool:
    """Whether the adapter (or run) folder holds a LoRA adapter: what vLLM serves beside its base model."""
    folder = Path(path).expanduser()
    folder = folder / "adapter" if (folder / "adapter").is_dir() else folder
    adapter = open_adapter_folder(folder) if folder.is_dir() else None
    return adapter is not None and adapter.adapter_type == "LORA"
