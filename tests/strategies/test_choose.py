"""Classification by the generator: the label set's likelihoods, not parsed free text (the scores' arithmetic
on the tiny random generator, the choice itself on the real SmolLM2)."""

from __future__ import annotations

import pytest
import torch

from workbench.strategies import ZeroShot


def test_continuation_logprobs_equal_a_plain_forward_pass(engine):
    prompt = engine.encode(engine.render([{"role": "user", "content": "What is the capital of France?"}]))
    continuations = [engine.encode("Paris") + [engine.tokenizer.eos_token_id], engine.encode("a zebra")]
    scores = engine.continuation_logprobs(prompt, continuations)
    for continuation, score in zip(continuations, scores):
        with torch.inference_mode():
            logits = engine.generator.model(torch.tensor([prompt + continuation])).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        expected = sum(logprobs[len(prompt) - 1 + i, token] for i, token in enumerate(continuation))
        assert score == pytest.approx(float(expected), abs=1e-3)


def test_choose_many_picks_the_most_likely_label_and_keeps_every_score(common, real_engine):
    strategy = ZeroShot(**{**common, "engine": real_engine})
    questions = ["What is the capital of France?", "Is this review positive or negative? 'A wonderful, moving film.'"]
    answers = strategy.choose_many(questions, ["Paris", "Berlin", "positive", "negative"])
    assert [a.text for a in answers] == ["Paris", "positive"]
    for answer in answers:
        assert set(answer.choices) == {"Paris", "Berlin", "positive", "negative"}
        assert answer.choices[answer.text] == max(answer.choices.values())
        assert answer.tokens_out == 0 and answer.prompt.endswith("assistant\n")
