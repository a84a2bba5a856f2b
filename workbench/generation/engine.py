"""The generation engine: the model's chat template, token counting against the context window,
batched generation (the rows of a batch may each name their adapter; concurrent callers share batches
through the model's scheduler, `batching`) and token streaming, of one prompt or of a batch row by row.

Greedy by default (config `generation`). A batch sorts prompts by length first, processes each prompt
alone and decodes the rows together; under greedy decoding a batched answer equals the one-at-a-time
answer (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from workbench.config import Config, default_setting
from workbench.generation.adapters import AdapterSet, adapters_for
from workbench.generation.batching import Row, RowResult, Sampling, Submission, learns_prompt
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
    batch_size: int = default_setting("generation.batch_size")  # prompts of one caller per generate
    max_batch_rows: int = default_setting("generation.max_batch_rows")  # rows of concurrent callers sharing one
    context_window: int | None = default_setting("generation.context_window")  # None: the model's max_position_embeddings
    first_line_only: bool = False  # stop a reply at the end of its first non-empty line (short answers keep no more)
    stop: tuple[str, ...] = tuple(default_setting("generation.stop"))  # a reply ends before the first of these

    @classmethod
    def from_config(cls, config: Config, first_line_only: bool = False) -> GenerationSettings:
        g = config.generation
        return cls(g.max_new_tokens, g.do_sample, g.temperature, g.top_p, g.batch_size, g.max_batch_rows,
                   g.context_window, first_line_only, tuple(g.stop))


@dataclass(frozen=True)
class Generation:
    text: str  # decoded, special tokens removed, not post-processed
    tokens_in: int
    tokens_out: int  # generated tokens, the end-of-turn token included
    seconds: float  # this item's share of its batch's generate time
    finish_reason: str = "stop"  # "stop" (end of turn, a stop string, first line done) or "length" (max_new_tokens)


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

    @property
    def engine_name(self) -> str:
        """Which engine answers (recorded in every answer): this process's."""
        return "local"

    def can_share_batch(self, keys: Sequence[str | None]) -> bool:
        """Whether prompts with these adapter keys can be generated in one batch (`AdapterSet.can_share_batch`)."""
        return self.adapters.can_share_batch(keys)

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
        """Answers to tokenized prompts, in order, `batch_size` prompts per `generate` call (shared with
        other callers' prompts waiting at the same time, see `batching`); `progress` hears of each batch
        (stage "generating", counted in prompts). `adapter`: the adapter key every prompt is answered
        with (None: the base model), or one per prompt, adapters that `AdapterSet.can_share_batch` (the
        side-by-side view answers every strategy in one batch)."""
        keys = _row_keys(adapter, len(prompts))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        size = self.settings.batch_size
        generating = start_stage(progress, "generating", len(prompts))
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            submission = self._submit([prompts[i] for i in batch], [keys[i] for i in batch], stream=False)
            for i, result in zip(batch, submission.wait()):
                results[i] = self._generation(prompts[i], result)
            generating.advance(len(batch))
        return results

    def stream(self, prompt: list[int], adapter: str | None = None) -> Iterator[str | Generation]:
        """Yield text pieces as they are generated, then the finished `Generation`."""
        for _, item in self.stream_rows([prompt], adapter):
            yield item

    def stream_rows(self, prompts: Sequence[list[int]], adapter: Adapters = None
                    ) -> Iterator[tuple[int, str | Generation]]:
        """`stream` for several prompts generated in one batch (`adapter` as in `generate`): yields
        (prompt position, text piece) as the rows advance, then (position, `Generation`) for each.
        Closing the iterator early (a client gone) stops its rows."""
        prompts = list(prompts)
        submission = self._submit(prompts, _row_keys(adapter, len(prompts)), stream=True)
        try:
            yield from iter(submission.pieces.get, None)
            for row, result in enumerate(submission.wait()):
                yield row, self._generation(prompts[row], result)
        finally:
            submission.cancel()

    def _submit(self, prompts: Sequence[list[int]], keys: Sequence[str | None], stream: bool) -> Submission:
        s = self.settings
        rows = [Row(list(prompt), key, s.max_new_tokens, s.stop, s.first_line_only) for prompt, key in zip(prompts, keys)]
        sampling = Sampling(s.do_sample, s.temperature, s.top_p) if s.do_sample else Sampling()
        return self.adapters.scheduler.submit(rows, sampling, max_rows=s.max_batch_rows, stream=stream)

    def continuation_logprobs(self, prompt: list[int], continuations: Sequence[list[int]],
                              adapter: str | None = None) -> list[float]:
        """Log-probability of each continuation after `prompt` (summed over its tokens): choosing among
        a closed set of answers by likelihood instead of parsing text. The prompt is run once and its
        key/value cache shared by every continuation (a learned-prompt adapter, which brings its own
        cache, runs each full sequence instead)."""
        with self.adapters.activate(adapter) as model, torch.inference_mode():
            if learns_prompt(model):
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

    def prompt_logprobs(self, prompt: list[int], adapter: str | None = None) -> list[float | None]:
        """The log-probability of each token of `prompt` after those before it (None for the first):
        what an OpenAI-style server returns for `echo` with `logprobs`."""
        with self.adapters.activate(adapter) as model, torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt], device=self.generator.device)).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)[torch.arange(len(prompt) - 1), torch.tensor(prompt[1:])]
        return [None, *logprobs.tolist()]

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

    def _generation(self, prompt: list[int], result: RowResult) -> Generation:
        return Generation(text=result.text, tokens_in=len(prompt), tokens_out=len(result.tokens),
                          seconds=result.seconds, finish_reason=result.finish_reason)


Adapters = str | None | Sequence[str | None]  # one adapter key for every prompt, or one per prompt


def _row_keys(adapter: Adapters, rows: int) -> list[str | None]:
    if adapter is None or isinstance(adapter, str):
        return [adapter] * rows
    if len(adapter) != rows:
        raise ValueError(f"{len(adapter)} adapters for {rows} prompts")
    return list(adapter)
