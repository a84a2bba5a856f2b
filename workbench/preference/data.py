"""Preference records → what TRL's trainers read: conversations in the generator's chat template.

A record is a prompt with a `chosen` and a `rejected` response (`workbench.corpus.load_preferences`).
It becomes TRL's conversational preference format, `prompt` (system + user messages), `chosen` and
`rejected` (one assistant message each), so the reward model, DPO and RLOO all see the prompt exactly
as the finetuned strategies send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.corpus import DatasetError, PreferenceExample
from workbench.training.examples import chat_messages


def split_records(records: Sequence[PreferenceExample], eval_fraction: float, seed: int
                  ) -> tuple[list[PreferenceExample], list[PreferenceExample]]:
    """A seeded split by record: (training, held out), at least one held out."""
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    n_eval = max(1, round(len(records) * eval_fraction))
    return [records[i] for i in order[n_eval:]], [records[i] for i in order[:n_eval]]


def prompt_messages(record: PreferenceExample, system_prompt: str) -> list[dict[str, str]]:
    return list(chat_messages(system_prompt, record.prompt))


def reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_dataset(records: Sequence[PreferenceExample], system_prompt: str) -> Any:
    """TRL's conversational preference dataset: prompt, chosen, rejected."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": prompt_messages(r, system_prompt), "chosen": reply(r.chosen),
                               "rejected": reply(r.rejected)} for r in records])


def prompt_dataset(records: Sequence[PreferenceExample], system_prompt: str) -> Any:
    """TRL's conversational prompt-only dataset (online methods sample their own responses)."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": prompt_messages(r, system_prompt)} for r in records])


def check_window(records: Sequence[PreferenceExample], tokenizer: Any, system_prompt: str, max_length: int,
                 source: str, room: int = 1) -> None:
    """Refuse records whose prompt alone leaves fewer than `room` tokens of the window for a response:
    truncating them would compare two empty responses."""
    for record in records:
        prompt = tokenizer.apply_chat_template(prompt_messages(record, system_prompt), tokenize=True,
                                               add_generation_prompt=True, return_dict=True)["input_ids"]
        if len(prompt) + room > max_length:
            start = " ".join(record.prompt.split())[:60]
            raise DatasetError(source, f"the prompt '{start}…' takes {len(prompt)} tokens, leaving no room for a "
                               f"response within max_length={max_length}; raise --max-length or shorten the prompt")
