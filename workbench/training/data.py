"""From examples to batches: prompt–completion token ids in the model's chat template with the prompt
masked out of the loss, dynamic padding, and length-grouped batches (less padding, random order)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from workbench.training.examples import PromptCompletion

IGNORE_INDEX = -100  # label value the loss skips (prompt and padding tokens)
log = logging.getLogger(__name__)


def prompt_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The chat template applied to `messages`, ending where the assistant starts to speak."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


@dataclass
class Truncation:
    """How many examples did not fit the window, reported instead of silently cut."""

    truncated: int = 0
    dropped: int = 0
    total: int = 0

    def warn(self, what: str, max_length: int) -> None:
        if self.truncated or self.dropped:
            log.warning("%d of %d %s longer than max_length=%d tokens were truncated%s", self.truncated, self.total,
                        what, max_length, f"; {self.dropped} dropped (nothing left to learn)" if self.dropped else "")

    def as_dict(self) -> dict[str, int]:
        return {"truncated": self.truncated, "dropped": self.dropped, "total": self.total}


def tokenize_completions(examples: Sequence[PromptCompletion], tokenizer: Any, max_length: int,
                         mask_prompt: bool = True) -> tuple[list[dict[str, list[int]]], Truncation]:
    """Token ids of prompt + completion (+ end of turn), labels -100 on the prompt when `mask_prompt`;
    an example without messages (a document) is its text's tokens, every one learned.

    Too long examples are cut at the end (the prompt format stays intact); one whose completion
    is cut away entirely is dropped. Both are counted."""
    report = Truncation(total=len(examples))
    tokenized = []
    for example in examples:
        if not example.messages:  # a document: every token is learned, from the model's start token on
            ids = tokenizer(example.completion, add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
            if len(ids) > max_length:
                report.truncated += 1
                ids = ids[:max_length]
            tokenized.append({"input_ids": ids, "labels": list(ids)})
            continue
        prompt = prompt_text(tokenizer, example.messages)
        full = tokenizer.apply_chat_template([*example.messages, {"role": "assistant", "content": example.completion}],
                                             tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("the chat template renders the reply differently from the generation prompt")
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(full[len(prompt):].rstrip("\n"), add_special_tokens=False)["input_ids"]
        ids = prompt_ids + completion_ids
        if len(ids) > max_length:
            report.truncated += 1
            ids = ids[:max_length]
            if len(ids) <= len(prompt_ids):
                report.dropped += 1
                continue
        labels = [IGNORE_INDEX] * len(prompt_ids) + ids[len(prompt_ids):] if mask_prompt else list(ids)
        tokenized.append({"input_ids": ids, "labels": labels[:len(ids)]})
    return tokenized, report


def pad_batch(examples: Sequence[dict[str, list[int]]], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Right-pad `input_ids` (and `labels`, with -100, when present) to the longest example or to `pad_to`."""
    width = pad_to or max(len(e["input_ids"]) for e in examples)
    has_labels = "labels" in examples[0]
    batch = {"input_ids": torch.full((len(examples), width), pad_id, dtype=torch.long),
             "attention_mask": torch.zeros((len(examples), width), dtype=torch.long)}
    if has_labels:
        batch["labels"] = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        batch["input_ids"][row, :n] = torch.tensor(example["input_ids"])
        batch["attention_mask"][row, :n] = 1
        if has_labels:
            batch["labels"][row, :n] = torch.tensor(example["labels"])
    return batch


class LengthGroupedBatches:
    """The batches of one optimizer step each, as lists of example indices, reshuffled per epoch from
    (seed, epoch) alone.

    With `group_by_length`, examples are sorted by length inside shuffled windows of 50 batches,
    so a batch holds similar lengths (little padding) while the epoch order stays random. With
    several training processes (`processes`), a step's batch holds `batch_size` examples for each,
    and `rank_share` hands each its part: two processes with batch size B take the steps one process
    takes with 2B."""

    WINDOW_BATCHES = 50

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True,
                 processes: int = 1):
        self.lengths, self.seed, self.group_by_length = list(lengths), seed, group_by_length
        self.batch_size = batch_size * processes
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 10_007 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        if not self.group_by_length:
            yield from (order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        window = self.batch_size * self.WINDOW_BATCHES
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start:start + window], key=lambda i: -self.lengths[i])
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]


def rank_share(step: Sequence[int], rank: int, processes: int) -> list[int]:
    """Process `rank`'s part of a step's batch: consecutive slices, as even as possible, so that every
    example is learned once per epoch. The epoch's last batch may hold fewer examples than there are
    processes; a process left with none still takes the step (see `workbench.training.loop`)."""
    size, extra = divmod(len(step), processes)
    start = rank * size + min(rank, extra)
    return list(step[start:start + size + (rank < extra)])
