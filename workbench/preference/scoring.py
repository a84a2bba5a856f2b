"""Per-item scores of preference data, shared by training summaries and `wb compare`:
a reward model's score of a response, and a policy's log-likelihood of a response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from workbench.training.data import IGNORE_INDEX, pad_batch, tokenize_completions
from workbench.training.examples import PromptCompletion


def conversation_text(tokenizer: Any, messages: Sequence[dict[str, str]], response: str) -> str:
    """The text a reward model reads: the conversation with the response, in the chat template (TRL's own
    rendering, so the scores match what RewardTrainer and RLOOTrainer compute)."""
    from trl.data_utils import apply_chat_template

    return apply_chat_template({"messages": [*messages, {"role": "assistant", "content": response}]}, tokenizer)["text"]


@torch.no_grad()
def reward_scores(model: nn.Module, tokenizer: Any, conversations: Sequence[tuple[Sequence[dict[str, str]], str]],
                  max_length: int, batch_size: int = 8) -> list[float]:
    """The reward model's scalar for each (prompt messages, response)."""
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    for start in range(0, len(conversations), batch_size):
        texts = [conversation_text(tokenizer, messages, response)
                 for messages, response in conversations[start:start + batch_size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right", truncation=True,
                          max_length=max_length, add_special_tokens=False).to(device)
        scores.extend(model(**batch).logits[:, 0].float().tolist())
    return scores


@torch.no_grad()
def response_logprobs(model: nn.Module, tokenizer: Any, examples: Sequence[PromptCompletion], max_length: int,
                      batch_size: int = 8) -> list[float]:
    """log p(response | prompt) of each example under the causal LM `model`, summed over the response's
    tokens (the quantity DPO's implicit reward compares)."""
    model.eval()
    device = next(model.parameters()).device
    tokenized, _ = tokenize_completions(examples, tokenizer, max_length)
    if len(tokenized) != len(examples):
        raise ValueError(f"{len(examples) - len(tokenized)} responses have no token left within max_length={max_length}")
    totals: list[float] = []
    for start in range(0, len(tokenized), batch_size):
        batch = {k: v.to(device) for k, v in pad_batch(tokenized[start:start + batch_size], tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        targets = batch["labels"][:, 1:]
        learned = targets != IGNORE_INDEX
        token_logprobs = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        totals.extend((token_logprobs * learned).sum(-1).tolist())
    return totals
