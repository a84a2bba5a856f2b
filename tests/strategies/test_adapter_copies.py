"""Adapters peft cannot switch on one model (LoRA beside IA3) answer on an extra copy of the base model,
shared by every factory on the same model pool, within `models.extra_copies_mb`; the LoRA and IA3 runs of the tiny
random generator that the session trains once (`tiny_run`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from workbench.config import load_config
from workbench.models import LoadedGenerator
from workbench.models.pool import ModelPool
from workbench.strategies import StrategyFactory, StrategyOptions
from workbench.training.generator import load_trained_generator

MAX_NEW_TOKENS = 8


@pytest.fixture
def runs(tiny_run, tiny_generator) -> dict[str, Path]:
    """A LoRA and an IA3 run of the tiny generator (and, under "model", its name)."""
    return {"lora": tiny_run("lora").path, "ia3": tiny_run("ia3").path, "model": tiny_generator}


@pytest.fixture
def pool() -> ModelPool:
    """Each test starts from a pool without extra copies."""
    return ModelPool(budget_mb=4096)


def _factory(runs: dict[str, Path], pool: ModelPool, extra_copies_mb: int = 4096) -> StrategyFactory:
    config = load_config(overrides=["models.device=cpu", f"models.generator={runs['model']}",
                                    f"models.extra_copies_mb={extra_copies_mb}", f"generation.max_new_tokens={MAX_NEW_TOKENS}"])
    options = StrategyOptions(adapters=(f"tuned-lora={runs['lora']}", f"tuned-ia3={runs['ia3']}"))
    return StrategyFactory(config, options, models=pool)


def _greedy(generator: LoadedGenerator, prompt: str) -> str:
    """`generator`'s greedy answer to `prompt`, called directly (no engine, no adapter switching)."""
    ids = generator.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        output = generator.model.generate(input_ids=torch.tensor([ids]), max_new_tokens=MAX_NEW_TOKENS,
                                          do_sample=False, pad_token_id=generator.tokenizer.pad_token_id)
    return generator.tokenizer.decode(output[0, len(ids):], skip_special_tokens=True)


def test_lora_and_ia3_answer_side_by_side_each_like_when_loaded_alone(runs, questions, pool):
    factory = _factory(runs, pool)
    outcomes = factory.answer_each(["zero-shot", "finetuned"], questions[:2])
    base, *tuned = outcomes
    assert [(o.label, o.error) for o in tuned] == [("finetuned[tuned-lora]", None), ("finetuned[tuned-ia3]", None)]
    lora, ia3 = factory.build("finetuned")
    assert lora.engine is factory.engine and ia3.engine.generator.model is not lora.engine.generator.model
    for method, outcome in zip(("lora", "ia3"), tuned):
        alone = load_trained_generator(runs[method], device="cpu")
        assert [a.raw_text for a in outcome.answers] == [_greedy(alone, a.prompt) for a in outcome.answers]
    assert len({tuple(a.raw_text for a in o.answers) for o in outcomes}) == 3  # each adapter is on, and only it

    again = _factory(runs, pool).build("finetuned")[1]  # another factory (a UI server builds one per question)
    assert again.engine.generator.model is ia3.engine.generator.model
    assert len(pool.extra_copies(runs["model"], "cpu")) == 1


def test_a_copy_beyond_the_memory_limit_is_a_clear_error(runs, questions, pool):
    lora, outcome = _factory(runs, pool, extra_copies_mb=1).answer_each(["finetuned"], questions[:1])
    assert lora.label == "finetuned[tuned-lora]" and lora.error is None  # the adapter that fits still answers
    assert outcome.label == "finetuned[tuned-ia3]" and outcome.error.kind is None  # ours: it explains itself
    assert f"adapter {runs['ia3'] / 'adapter'}: IA3 adapters cannot be loaded beside the LORA" in str(outcome.error)
    assert re.search(rf"another copy of '{re.escape(runs['model'])}' on cpu \(\d+ MB\), beyond the 1 MB.*"
                     r"raise models.extra_copies_mb to at least \d+", str(outcome.error))
