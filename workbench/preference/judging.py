"""Judging a policy's replies to held-out preference prompts, as `wb compare` scores a preference
experiment: a reward model scores each reply against the base model's reply to the same prompt, and the
policy's likelihood margin of chosen over rejected is compared with the base model's.

The base model's side (its replies and margins) is the same for every policy judged on these items, so
it is computed once (`base_side`) and handed to `judge`; the caller may keep it between runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from torch import nn

from workbench.config import Config
from workbench.corpus import QAPair
from workbench.models.pool import ModelPool
from workbench.preference.reward import load_reward_model
from workbench.preference.scoring import response_logprobs, reward_scores
from workbench.training.examples import PromptCompletion, chat_messages
from workbench.training.generator import generate_replies, load_trained_generator


class BaseSide(BaseModel):
    """The base model on the held-out items: its greedy replies and its preference gaps."""

    replies: list[str]
    gaps: list[float]


def base_side(config: Config, items: Sequence[QAPair], models: ModelPool | None = None) -> BaseSide:
    """What every policy is judged against: the base generator's replies and gaps on `items` (prompt,
    (chosen, rejected)); `models` shares the session's loaded copy (None: the process's pool)."""
    base = (models or ModelPool.default()).generator(config.models.generator, config.models.device)
    prompts = _prompts(config, items)
    examples = [PromptCompletion(tuple(m), "") for m in prompts]
    return BaseSide(replies=generate_replies(base.model, base.tokenizer, examples, config.generation.max_new_tokens),
                    gaps=preference_gaps(base.model, base.tokenizer, prompts, items, config))


def judge(config: Config, judge_run: Path, items: Sequence[QAPair], replies: list[str], run: Path | None,
          base: BaseSide) -> list[dict[str, Any]]:
    """Per item: win_rate (1 when the reward model prefers the reply to the base reply, 0.5 on a tie),
    reward, margin_gain (the gap of the trained `run` over the base's; 0 without a run), base_reply."""
    prompts = _prompts(config, items)
    scorer = load_reward_model(judge_run, config.models.device)
    rewards = reward_scores(scorer.model, scorer.tokenizer, list(zip(prompts, replies)), scorer.max_length)
    base_rewards = reward_scores(scorer.model, scorer.tokenizer, list(zip(prompts, base.replies)), scorer.max_length)
    if run is None:
        gaps = base.gaps
    else:
        tuned = load_trained_generator(run, config.models.device)
        gaps = preference_gaps(tuned.model, tuned.tokenizer, prompts, items, config)
    return [{"win_rate": 1.0 if r > b else 0.5 if r == b else 0.0, "reward": r, "margin_gain": g - g0,
             "base_reply": reply} for r, b, g, g0, reply in zip(rewards, base_rewards, gaps, base.gaps, base.replies)]


def preference_gaps(model: nn.Module, tokenizer: Any, prompts: list[list[dict]], items: Sequence[QAPair],
                    config: Config) -> list[float]:
    """log p(chosen) - log p(rejected) of each item under `model`."""
    length = config.training.preference.max_length
    chosen = response_logprobs(model, tokenizer, [PromptCompletion(tuple(m), p.answers[0]) for m, p in zip(prompts, items)], length)
    rejected = response_logprobs(model, tokenizer, [PromptCompletion(tuple(m), p.answers[1]) for m, p in zip(prompts, items)], length)
    return [c - r for c, r in zip(chosen, rejected)]


def _prompts(config: Config, items: Sequence[QAPair]) -> list[list[dict]]:
    """Each item's prompt as the conversation the policy answers (the generation's system prompt first)."""
    return [list(chat_messages(config.generation.system_prompt, p.question)) for p in items]
