"""The generation engine: the model's chat template, token counting against the context window,
batched generation (left padding, one `generate` per batch; the rows of a batch may each name their
adapter) and token streaming, of one prompt or of a batch row by row (for the UI).

Greedy by default (config `generation`). A batch sorts prompts by length first, processes each prompt
alone and decodes the rows together; under greedy decoding a batched answer equals the one-at-a-time
answer (tested).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional
from transformers import DynamicCache, StaticCache, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from workbench.config import Config, default_setting
from workbench.generation.adapters import AdapterSet, adapters_for
from workbench.generation.budget import FittedPrompt, fit_prompt
from workbench.models import LoadedGenerator
from workbench.models.pool import ModelPool
from workbench.progress import ProgressCallback, start_stage


@dataclass(frozen=True)
class GenerationSettings:
    """`generation.*` (the defaults are configs/default.yaml's), and whether replies stop after one line."""

    max_new_tokens: int = default_setting("generation.max_new_tokens")
    do_sample: bool = default_setting("generation.do_sample")
    temperature: float = default_setting("generation.temperature")
    top_p: float = default_setting("generation.top_p")
    batch_size: int = default_setting("generation.batch_size")
    context_window: int | None = default_setting("generation.context_window")  # None: the model's max_position_embeddings
    first_line_only: bool = False  # stop a reply at the end of its first non-empty line (short answers keep no more)

    @classmethod
    def from_config(cls, config: Config, first_line_only: bool = False) -> GenerationSettings:
        g = config.generation
        return cls(g.max_new_tokens, g.do_sample, g.temperature, g.top_p, g.batch_size, g.context_window,
                   first_line_only)


@dataclass(frozen=True)
class Generation:
    text: str  # decoded, special tokens removed, not post-processed
    tokens_in: int
    tokens_out: int  # generated tokens, the end-of-turn token included
    seconds: float  # this item's share of its batch's generate time


class GenerationEngine:
    """Generates with one loaded model (and its adapters) under fixed settings."""

    def __init__(self, generator: LoadedGenerator, settings: GenerationSettings | None = None):
        self.generator = generator
        self.settings = settings or GenerationSettings()
        self.adapters: AdapterSet = adapters_for(generator)
        self.tokenizer = generator.tokenizer
        model_window = getattr(generator.model.config, "max_position_embeddings", None)
        limits = [w for w in (model_window, self.settings.context_window) if w]
        if not limits:
            raise ValueError(f"{generator.name}: unknown context window; set generation.context_window")
        self.window = min(limits)
        self.prompt_limit = self.window - self.settings.max_new_tokens

    @classmethod
    def from_config(cls, config: Config, model: str | None = None, first_line_only: bool = False,
                    pool: ModelPool | None = None) -> GenerationEngine:
        """`model` (default: models.generator) from `pool` (default: the process's) under the config's
        generation settings."""
        generator = (pool or ModelPool.default()).generator(model or config.models.generator, config.models.device)
        return cls(generator, GenerationSettings.from_config(config, first_line_only))

    @property
    def model_name(self) -> str:
        return self.generator.name

    def render(self, messages: list[dict]) -> str:
        """The chat, in the model's own template, ending where the assistant's answer starts."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def encode(self, prompt: str) -> list[int]:
        # The template already wrote the special tokens; adding them again would duplicate BOS.
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def reply_ids(self, reply: str) -> list[int]:
        """The tokens that follow a generation prompt when the model answers `reply` and ends its turn,
        as the chat (or completion) template writes them and training learns them."""
        asked = [{"role": "user", "content": "?"}]
        prompt = self.render(asked)
        full = self.tokenizer.apply_chat_template([*asked, {"role": "assistant", "content": reply}], tokenize=False)
        return self.encode(full[len(prompt):].rstrip("\n"))

    def fit(self, build_messages: Callable[[int, int], list[dict]], n_demonstrations: int = 0,
            n_sources: int = 0) -> FittedPrompt:
        """Render `build_messages(n_demos, n_sources)` with as many items as the window allows."""
        note = f"context window {self.window} - {self.settings.max_new_tokens} answer tokens"
        return fit_prompt(lambda d, s: self.render(build_messages(d, s)), self.encode, limit=self.prompt_limit,
                          n_demonstrations=n_demonstrations, n_sources=n_sources, window_note=note)

    def generate(self, prompts: Sequence[list[int]], adapter: Adapters = None,
                 progress: ProgressCallback | None = None) -> list[Generation]:
        """Answers to tokenized prompts, in order, `batch_size` prompts per `generate` call; `progress`
        hears of each batch (stage "generating", counted in prompts). `adapter`: the adapter key every
        prompt is answered with (None: the base model), or one per prompt, adapters that
        `AdapterSet.can_share_batch` (the side-by-side view answers every strategy in one batch)."""
        keys = _row_keys(adapter, len(prompts))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        size = self.settings.batch_size
        generating = start_stage(progress, "generating", len(prompts))
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            generations = self._generate_batch([prompts[i] for i in batch], [keys[i] for i in batch])
            for i, generation in zip(batch, generations):
                results[i] = generation
            generating.advance(len(batch))
        return results

    def _generate_batch(self, prompts: list[list[int]], keys: list[str | None]) -> list[Generation]:
        started = time.perf_counter()
        new_tokens = self._generate_rows(prompts, keys)
        seconds = (time.perf_counter() - started) / len(prompts)
        return [self._generation(prompt, tokens, seconds) for prompt, tokens in zip(prompts, new_tokens)]

    def _generate_rows(self, prompts: list[list[int]], keys: list[str | None],
                       streamer: BaseStreamer | None = None) -> list[list[int]]:
        """One `generate` over the left-padded prompts, each row through its adapter (see `_prefill`);
        the new tokens of each row."""
        input_ids, attention_mask = self._left_pad(prompts)
        stop = ({"stopping_criteria": StoppingCriteriaList([_FirstLineDone(self.tokenizer, input_ids.shape[1])])}
                if self.settings.first_line_only else {})
        with self.adapters.lock, torch.inference_mode():
            cache = self._prefill(prompts, keys)
            with self.adapters.activate_rows(keys) as (model, routing):
                output = model.generate(input_ids=input_ids, attention_mask=attention_mask, cache=cache,
                                        streamer=streamer, **routing, **stop, **self._generate_kwargs())
        return output[:, input_ids.shape[1]:].tolist()

    def _prefill(self, prompts: list[list[int]], keys: list[str | None]) -> StaticCache | None:
        """The key/value cache of every prompt but its last token, computed row by row and left-padded
        into one batch cache, for `generate` to go on from. Padding a batch to its longest prompt would
        process every row at that length: side by side, a 50-token zero-shot prompt beside a 500-token
        RAG prompt. None (generate prefills the padded batch) for one row, or where the model answers
        with a learned prompt (prompt or prefix tuning: peft brings its own cache)."""
        if len(prompts) == 1 or min(map(len, prompts)) < 2 or _has_sliding_window(self.generator.model.config):
            return None
        rows = []
        for prompt, key in zip(prompts, keys):
            with self.adapters.activate(key) as model:
                if _learns_prompt(model):
                    return None
                rows.append(DynamicCache(config=self.generator.model.config))
                model(input_ids=torch.tensor([prompt[:-1]], device=self.generator.device), past_key_values=rows[-1],
                      use_cache=True, logits_to_keep=1)
        width = max(map(len, prompts)) - 1
        # Preallocated: a dynamic cache copies the whole batch's cache at every step (measured: 3 % of
        # a side-by-side answer).
        batch = StaticCache(config=self.generator.model.config, max_cache_len=width + 1 + self.settings.max_new_tokens)
        for layer in range(len(rows[0].layers)):
            padded = [[functional.pad(tensor, (0, 0, width - tensor.shape[2], 0)) for tensor in (row.layers[layer].keys,
                                                                                               row.layers[layer].values)]
                      for row in rows]
            batch.update(torch.cat([k for k, _ in padded]), torch.cat([v for _, v in padded]), layer)
        return batch

    def stream(self, prompt: list[int], adapter: str | None = None) -> Iterator[str | Generation]:
        """Yield text pieces as they are generated, then the finished `Generation`."""
        for _, item in self.stream_rows([prompt], adapter):
            yield item

    def stream_rows(self, prompts: Sequence[list[int]], adapter: Adapters = None
                    ) -> Iterator[tuple[int, str | Generation]]:
        """`stream` for several prompts generated in one batch (`adapter` as in `generate`): yields
        (prompt position, text piece) as the rows advance, then (position, `Generation`) for each."""
        prompts = list(prompts)
        keys = _row_keys(adapter, len(prompts))
        streamer = _RowStreamer(self.tokenizer, len(prompts))
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["tokens"] = self._generate_rows(prompts, keys, streamer)
            except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread below)
                outcome["error"] = exc
                streamer.end()

        started = time.perf_counter()
        worker = threading.Thread(target=run, name="wb-generate", daemon=True)
        worker.start()
        yield from iter(streamer.pieces.get, None)
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        seconds = (time.perf_counter() - started) / len(prompts)
        for row, tokens in enumerate(outcome["tokens"]):
            yield row, self._generation(prompts[row], tokens, seconds)

    def continuation_logprobs(self, prompt: list[int], continuations: Sequence[list[int]],
                              adapter: str | None = None) -> list[float]:
        """Log-probability of each continuation after `prompt` (summed over its tokens): choosing among
        a closed set of answers by likelihood instead of parsing text. The prompt is run once and its
        key/value cache shared by every continuation (a learned-prompt adapter, which brings its own
        cache, runs each full sequence instead)."""
        with self.adapters.activate(adapter) as model, torch.inference_mode():
            if _learns_prompt(model):
                return self._full_sequence_logprobs(model, prompt, continuations)
            device = self.generator.device
            out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            totals = [float(first[c[0]]) for c in continuations]
            rest = [c[:-1] for c in continuations]  # each token after the first is predicted from these
            width = max(len(r) for r in rest)
            if width == 0:
                return totals
            cache = out.past_key_values
            cache.batch_repeat_interleave(len(continuations))
            pad = self.tokenizer.pad_token_id
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rest], device=device)
            mask = torch.tensor([[1] * (len(prompt) + len(r)) + [0] * (width - len(r)) for r in rest], device=device)
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask, past_key_values=cache).logits.float(), -1)
        for row, continuation in enumerate(continuations):
            targets = torch.tensor(continuation[1:], dtype=torch.long)
            totals[row] += float(logprobs[row, torch.arange(len(targets)), targets].sum())
        return totals

    def _full_sequence_logprobs(self, model: torch.nn.Module, prompt: list[int],
                                continuations: Sequence[list[int]]) -> list[float]:
        sequences = [prompt + c for c in continuations]
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences], device=self.generator.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], device=self.generator.device)
        logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        totals = []
        for row, continuation in enumerate(continuations):
            positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(continuation))
            totals.append(float(logprobs[row, positions, torch.tensor(continuation)].sum()))
        return totals

    def _left_pad(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left padding, so every prompt ends where its answer starts (without touching the shared
        tokenizer's padding_side)."""
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        return ids.to(self.generator.device), mask.to(self.generator.device)

    def _generate_kwargs(self) -> dict:
        s = self.settings
        sampling = {"temperature": s.temperature, "top_p": s.top_p} if s.do_sample else {}
        # disable_compile: given a static cache (`_prefill`), transformers would compile the model on a GPU,
        # again for every new shape (compiling took 20-54 s on the CPU, bench/results/serving.md).
        return {"max_new_tokens": s.max_new_tokens, "do_sample": s.do_sample, **sampling, "disable_compile": True,
                "pad_token_id": self.tokenizer.pad_token_id, "eos_token_id": self.tokenizer.eos_token_id}

    def _generation(self, prompt: list[int], tokens: list[int], seconds: float) -> Generation:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        if eos in tokens:
            tokens = tokens[:tokens.index(eos) + 1]
        while tokens and tokens[-1] == pad != eos:  # a row stopped early (first line done) is padded after
            tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return Generation(text=text, tokens_in=len(prompt), tokens_out=len(tokens), seconds=seconds)


Adapters = str | None | Sequence[str | None]  # one adapter key for every prompt, or one per prompt


def _learns_prompt(model: torch.nn.Module) -> bool:
    """A peft model answering with a learned prompt (prompt or prefix tuning), which peft puts in front
    of every input itself, with a cache of its own."""
    config = getattr(model, "active_peft_config", None)
    return config is not None and config.is_prompt_learning


def _has_sliding_window(config) -> bool:
    """Whether some layers attend over a sliding window (Gemma 3): their cache keeps only the window, so
    prompts prefilled row by row would not line up in one batch cache."""
    return "sliding_attention" in (getattr(config, "layer_types", None) or ()) or bool(getattr(config, "sliding_window", None))


class _FirstLineDone(StoppingCriteria):
    """Stops each row once its reply holds a complete non-empty line: the short-answer clean-up keeps
    that line only, so a base model that would go on writing stops there instead of at max_new_tokens."""

    def __init__(self, tokenizer, prompt_width: int):
        self.tokenizer, self.prompt_width = tokenizer, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        replies = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        return torch.tensor([bool(_FIRST_LINE.search(reply)) for reply in replies], device=input_ids.device)


_FIRST_LINE = re.compile(r"\S[^\n]*\n")


def _row_keys(adapter: Adapters, rows: int) -> list[str | None]:
    if adapter is None or isinstance(adapter, str):
        return [adapter] * rows
    if len(adapter) != rows:
        raise ValueError(f"{len(adapter)} adapters for {rows} prompts")
    return list(adapter)


class _RowStreamer(BaseStreamer):
    """Receives each step's tokens from `generate` (one per row) and queues (row, new text) until the
    row's end-of-turn token; None when generation ends. A piece is queued once its characters are
    complete, so the pieces of a row join into its decoded answer."""

    def __init__(self, tokenizer, rows: int):
        self.tokenizer = tokenizer
        self.pieces: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self._tokens: list[list[int]] = [[] for _ in range(rows)]
        self._shown = [0] * rows
        self._finished = [False] * rows
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate hands over the prompt first
            self._prompt_seen = True
            return
        for row, token in enumerate(value.reshape(len(self._tokens), -1)[:, -1].tolist()):
            if self._finished[row]:
                continue
            if token == self.tokenizer.eos_token_id:
                self._finished[row] = True
                continue
            self._tokens[row].append(token)
            text = self.tokenizer.decode(self._tokens[row], skip_special_tokens=True)
            if len(text) > self._shown[row] and not text.endswith("\ufffd"):  # not in the middle of a character
                self.pieces.put((row, text[self._shown[row]:]))
                self._shown[row] = len(text)

    def end(self) -> None:
        self.pieces.put(None)
