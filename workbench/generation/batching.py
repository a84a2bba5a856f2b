"""Concurrent requests share one `generate`: the batch scheduler of a base model.

Every generation on a model (and on its adapters) goes through the model's one scheduler. A caller
submits its rows (prompt tokens, adapter, when the row stops) and waits; a worker thread takes the
oldest waiting submission, adds every other waiting one that can share its batch (the same sampling
settings, adapters that mix) up to the first one's row limit, and generates them together. Requests
that arrive while a batch runs go into the next batch, so four browser tabs or API clients asking at
once no longer wait one behind another.

Each row stops on its own: at its end-of-turn token, its token limit, its stop strings, at the end of
its first line when it keeps only that, or when its caller has gone (a disconnected client frees its
row: a batch ends when all its rows have stopped). So requests with different limits share a batch,
and under greedy decoding a row's answer does not depend on what it was batched with (tested).
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional
from transformers import DynamicCache, StaticCache, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

if TYPE_CHECKING:
    from workbench.generation.adapters import AdapterSet


@dataclass(frozen=True)
class Row:
    """One prompt to answer, and when its answer stops."""

    prompt: list[int]
    adapter: str | None  # the adapter key it is answered with (None: the base model)
    max_new_tokens: int
    stop: tuple[str, ...] = ()  # the answer ends before the first of these
    first_line_only: bool = False  # stop at the end of the first non-empty line


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: rows share a batch only under equal sampling."""

    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0

    def generate_kwargs(self) -> dict:
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p} if self.do_sample \
            else {"do_sample": False}


@dataclass(frozen=True)
class RowResult:
    tokens: list[int]  # the new tokens, the end-of-turn token included, nothing after the row stopped
    text: str  # decoded, cut before a stop string
    finish_reason: str  # "stop" (end of turn, a stop string, first line done) or "length" (its token limit)
    seconds: float  # the row's share of its batch's time


class Submission:
    """Rows waiting for (or in) a batch. `pieces` (when streaming) receives (row, text piece) as the
    rows advance, then None; `wait` gives the results."""

    def __init__(self, rows: Sequence[Row], sampling: Sampling, max_rows: int, stream: bool):
        self.rows = list(rows)
        self.sampling = sampling
        self.max_rows = max_rows
        self.pieces: queue.Queue[tuple[int, str] | None] | None = queue.Queue() if stream else None
        self.cancelled = False
        self._done = threading.Event()
        self._results: list[RowResult] = []
        self._error: BaseException | None = None

    def cancel(self) -> None:
        """Stop generating these rows (their caller has gone); the batch goes on for the others."""
        self.cancelled = True

    def wait(self) -> list[RowResult]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._results

    def _finish(self, results: list[RowResult] | None, error: BaseException | None) -> None:
        self._results, self._error = results or [], error
        if self.pieces is not None:
            self.pieces.put(None)
        self._done.set()


class BatchScheduler:
    """The one queue of generations on a model (`AdapterSet.scheduler`)."""

    def __init__(self, adapters: AdapterSet):
        self.adapters = adapters
        self._pending: list[Submission] = []
        self._condition = threading.Condition()
        self._working = False
        self.batches = 0  # batches generated so far (how many requests shared them shows in benchmarks)

    @property
    def busy(self) -> bool:
        """Whether a batch is being generated (or about to be)."""
        with self._condition:
            return self._working

    @property
    def waiting(self) -> int:
        """Submissions waiting for a batch."""
        with self._condition:
            return len(self._pending)

    def submit(self, rows: Sequence[Row], sampling: Sampling, max_rows: int, stream: bool = False) -> Submission:
        """Queue `rows` for the next batch they fit in (at most `max_rows` rows in all, unless `rows`
        alone are more)."""
        submission = Submission(rows, sampling, max_rows, stream)
        with self._condition:
            self._pending.append(submission)
            if not self._working:  # a worker runs only while there is work: it holds the model alive
                self._working = True
                threading.Thread(target=self._work, name="wb-batches", daemon=True).start()
        return submission

    def _work(self) -> None:
        while True:
            with self._condition:
                if not self._pending:
                    self._working = False
                    return
                batch = self._next_batch()
            self._generate(batch)
            self.batches += 1

    def _next_batch(self) -> list[Submission]:
        """The oldest submission and the waiting ones that can join it, in arrival order."""
        first = self._pending.pop(0)
        batch, keys, size = [first], [row.adapter for row in first.rows], len(first.rows)
        for waiting in list(self._pending):
            joined = keys + [row.adapter for row in waiting.rows]
            if (waiting.sampling == first.sampling and size + len(waiting.rows) <= first.max_rows
                    and self.adapters.can_share_batch(joined)):
                batch.append(waiting)
                keys, size = joined, size + len(waiting.rows)
                self._pending.remove(waiting)
        return batch

    def _generate(self, batch: list[Submission]) -> None:
        live = [s for s in batch if not s.cancelled]
        for gone in set(batch) - set(live):
            gone._finish(None, None)
        if not live:
            return
        owners = [(s, i) for s in live for i in range(len(s.rows))]
        rows = [s.rows[i] for s, i in owners]
        streaming = any(s.pieces is not None for s in live)

        def emit(row: int, piece: str) -> None:
            submission, position = owners[row]
            if submission.pieces is not None:
                submission.pieces.put((position, piece))

        try:
            started = time.perf_counter()
            results = generate_rows(self.adapters, rows, live[0].sampling, [s for s, _ in owners],
                                    emit if streaming else None)
            seconds = (time.perf_counter() - started) / len(rows)
        except BaseException as exc:  # noqa: BLE001 (handed to every waiting caller, re-raised in its thread)
            for submission in live:
                submission._finish(None, exc)
            return
        for submission in live:
            submission._finish([dataclasses.replace(result, seconds=seconds) for (s, _), result in zip(owners, results)
                                if s is submission], None)


def generate_rows(adapters: AdapterSet, rows: list[Row], sampling: Sampling, owners: Sequence[Submission],
                  emit: Callable[[int, str], None] | None) -> list[RowResult]:
    """One `generate` over the left-padded prompts, each row through its adapter (see `_prefill`) and
    stopped by its own `Row` limits (or its owner's cancellation)."""
    generator = adapters.generator
    tokenizer = generator.tokenizer
    input_ids, attention_mask = _left_pad([row.prompt for row in rows], tokenizer.pad_token_id, generator.device)
    stopped = _RowsStopped(tokenizer, rows, input_ids.shape[1], owners)
    streamer = _RowStreamer(tokenizer, rows, stopped, emit) if emit else None
    longest = max(row.max_new_tokens for row in rows)
    with adapters.lock, torch.inference_mode():
        cache = _prefill(adapters, rows, longest)
        with adapters.activate_rows([row.adapter for row in rows]) as (model, routing):
            # disable_compile: given a static cache (`_prefill`), transformers would compile the model on a GPU,
            # again for every new shape (compiling took 20-54 s on the CPU, bench/results/serving.md).
            output = model.generate(input_ids=input_ids, attention_mask=attention_mask, cache=cache,
                                    streamer=streamer, stopping_criteria=StoppingCriteriaList([stopped]),
                                    max_new_tokens=longest, disable_compile=True, **routing, **sampling.generate_kwargs(),
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    new_tokens = output[:, input_ids.shape[1]:].tolist()
    return [_row_result(tokenizer, row, tokens) for row, tokens in zip(rows, new_tokens)]


def _row_result(tokenizer, row: Row, tokens: list[int]) -> RowResult:
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    tokens = tokens[:row.max_new_tokens]
    ended = eos in tokens
    if ended:
        tokens = tokens[:tokens.index(eos) + 1]
    while tokens and tokens[-1] == pad != eos:  # a row stopped early is padded after
        tokens = tokens[:-1]
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    cut = _cut_at_stop(text, row.stop)
    reason = "stop" if ended or cut != text or (row.first_line_only and _FIRST_LINE.search(text)) \
        or len(tokens) < row.max_new_tokens else "length"
    return RowResult(tokens, cut, reason, 0.0)


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    ends = [text.find(s) for s in stop if s and s in text]
    return text[:min(ends)] if ends else text


def _prefill(adapters: AdapterSet, rows: list[Row], max_new_tokens: int) -> StaticCache | None:
    """The key/value cache of every prompt but its last token, computed row by row and left-padded
    into one batch cache, for `generate` to go on from. Padding a batch to its longest prompt would
    process every row at that length: side by side, a 50-token zero-shot prompt beside a 500-token
    RAG prompt. None (generate prefills the padded batch) for one row, or where the model answers
    with a learned prompt (prompt or prefix tuning: peft brings its own cache)."""
    config = adapters.generator.model.config
    prompts = [row.prompt for row in rows]
    if len(prompts) == 1 or min(map(len, prompts)) < 2 or _has_sliding_window(config):
        return None
    caches = []
    for row in rows:
        with adapters.activate(row.adapter) as model:
            if learns_prompt(model):
                return None
            caches.append(DynamicCache(config=config))
            model(input_ids=torch.tensor([row.prompt[:-1]], device=adapters.generator.device),
                  past_key_values=caches[-1], use_cache=True, logits_to_keep=1)
    width = max(map(len, prompts)) - 1
    # Preallocated: a dynamic cache copies the whole batch's cache at every step (measured: 3 % of
    # a side-by-side answer).
    batch = StaticCache(config=config, max_cache_len=width + 1 + max_new_tokens)
    for layer in range(len(caches[0].layers)):
        padded = [[functional.pad(tensor, (0, 0, width - tensor.shape[2], 0))
                   for tensor in (cache.layers[layer].keys, cache.layers[layer].values)] for cache in caches]
        batch.update(torch.cat([k for k, _ in padded]), torch.cat([v for _, v in padded]), layer)
    return batch


def _left_pad(prompts: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left padding, so every prompt ends where its answer starts (without touching the shared
    tokenizer's padding_side)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids.to(device), mask.to(device)


def learns_prompt(model: torch.nn.Module) -> bool:
    """A peft model answering with a learned prompt (prompt or prefix tuning), which peft puts in front
    of every input itself, with a cache of its own."""
    config = getattr(model, "active_peft_config", None)
    return config is not None and config.is_prompt_learning


def _has_sliding_window(config) -> bool:
    """Whether some layers attend over a sliding window (Gemma 3): their cache keeps only the window, so
    prompts prefilled row by row would not line up in one batch cache."""
    return "sliding_attention" in (getattr(config, "layer_types", None) or ()) or bool(getattr(config, "sliding_window", None))


_FIRST_LINE = re.compile(r"\S[^\n]*\n")


class _RowsStopped(StoppingCriteria):
    """Which rows are done: at their token limit, a stop string, the end of a first line (for replies
    that keep only it; a base model would otherwise go on to max_new_tokens), or their caller gone.
    `done_at[row]`: how many tokens the row had generated when it was done (for the streamer)."""

    def __init__(self, tokenizer, rows: list[Row], prompt_width: int, owners: Sequence[Submission]):
        self.tokenizer, self.rows, self.prompt_width, self.owners = tokenizer, rows, prompt_width, owners
        self.done_at: list[int | None] = [None] * len(rows)
        self._reads_text = [bool(row.stop) or row.first_line_only for row in rows]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_width
        for row, spec in enumerate(self.rows):
            if self.done_at[row] is not None:
                continue
            done = generated >= spec.max_new_tokens or self.owners[row].cancelled
            if not done and self._reads_text[row]:
                text = self.tokenizer.decode(input_ids[row, self.prompt_width:], skip_special_tokens=True)
                done = (spec.first_line_only and bool(_FIRST_LINE.search(text))) or _cut_at_stop(text, spec.stop) != text
            if done:
                self.done_at[row] = generated
        return torch.tensor([at is not None for at in self.done_at], device=input_ids.device)


class _RowStreamer(BaseStreamer):
    """Receives each step's tokens from `generate` (one per row) and emits (row, new text) until the
    row ends. A piece is emitted once its characters are complete and it cannot be the start of a stop
    string, so the pieces of a row join into its answer."""

    def __init__(self, tokenizer, rows: list[Row], stopped: _RowsStopped, emit: Callable[[int, str], None]):
        self.tokenizer, self.rows, self.stopped, self.emit = tokenizer, rows, stopped, emit
        self._tokens: list[list[int]] = [[] for _ in rows]
        self._shown = [0] * len(rows)
        self._ended = [False] * len(rows)
        self._prompt_seen = False
        self._step = 0  # tokens generated so far by every row (a finished row gets padding)

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate hands over the prompt first
            self._prompt_seen = True
            return
        self._step += 1
        for row, token in enumerate(value.reshape(len(self.rows), -1)[:, -1].tolist()):
            if self._ended[row]:
                continue
            done_at = self.stopped.done_at[row]
            if (done_at is not None and self._step > done_at) or token == self.tokenizer.eos_token_id:
                self._flush(row)
                continue
            self._tokens[row].append(token)
            self._show(row, final=self._step == done_at)
            self._ended[row] = self._step == done_at

    def end(self) -> None:
        for row in range(len(self.rows)):
            if not self._ended[row]:
                self._flush(row)

    def _flush(self, row: int) -> None:
        self._show(row, final=True)
        self._ended[row] = True

    def _show(self, row: int, final: bool) -> None:
        stop = self.rows[row].stop
        text = self.tokenizer.decode(self._tokens[row][:self.rows[row].max_new_tokens], skip_special_tokens=True)
        visible = _cut_at_stop(text, stop)
        if not final and visible == text:
            if text.endswith("\ufffd"):  # in the middle of a character
                return
            held = max((n for s in stop for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
            visible = text[:len(text) - held]
        if len(visible) > self._shown[row]:
            self.emit(row, visible[self._shown[row]:])
            self._shown[row] = len(visible)
