"""The generation engine: batching, streaming, the context budget (on the tiny random generator, with the
real model's tokenizer and chat template)."""

from __future__ import annotations

import pytest

from workbench.generation import Generation, GenerationEngine, GenerationSettings, QuestionTooLong
from workbench.strategies import FewShot, ZeroShot

SYSTEM = "Answer the question with a short phrase."


def test_batched_generation_equals_one_at_a_time_under_greedy(common, questions):
    strategy = ZeroShot(**common)
    batched = strategy.answer_many(questions)  # batch_size 4: two batches, left-padded
    lengths = {a.tokens_in for a in batched}
    assert len(lengths) > 1, "the prompts should differ in length so that padding is exercised"
    one_by_one = [strategy.answer(q) for q in questions]
    assert [a.raw_text for a in batched] == [a.raw_text for a in one_by_one]
    assert [a.tokens_out for a in batched] == [a.tokens_out for a in one_by_one]


def test_stream_yields_pieces_then_the_same_answer_as_generate(common, questions):
    strategy = ZeroShot(**common)
    items = list(strategy.stream(questions[0]))
    pieces, final = items[:-1], items[-1]
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip() == final.raw_text.strip()
    assert final.raw_text == strategy.answer(questions[0]).raw_text


def test_engine_counts_prompt_tokens_and_stops_at_the_answer_budget(engine, templates, questions):
    fitted = engine.fit(lambda d, s: templates.messages("zero-shot", questions[0].question, SYSTEM))
    [generation] = engine.generate([fitted.token_ids])
    assert isinstance(generation, Generation)
    assert generation.tokens_in == len(fitted.token_ids) == len(engine.encode(fitted.text))
    assert 1 <= generation.tokens_out <= engine.settings.max_new_tokens


def test_budget_drops_lowest_ranked_sources_first(tiny, templates):
    engine = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, context_window=200))
    sources = [(f"doc{i}", f"Paragraph {i}: " + "lorem ipsum dolor " * 12) for i in range(1, 6)]
    fitted = engine.fit(lambda d, s: templates.messages("rag", "Who?", SYSTEM, sources=sources[:s]), n_sources=5)
    assert 0 < fitted.n_sources < 5
    assert len(fitted.token_ids) <= 200 - 8
    kept = [f"[{i}] Paragraph {i}:" for i in range(1, fitted.n_sources + 1)]
    assert all(marker in fitted.text for marker in kept)
    assert f"Paragraph {fitted.n_sources + 1}:" not in fitted.text


def test_demonstrations_dropped_to_fit_are_recorded_in_the_answer(tiny, templates, demo_corpus, questions):
    small = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, context_window=160))
    pool = demo_corpus.qa_pairs[100:130]
    strategy = FewShot(engine=small, templates=templates, system_prompt=SYSTEM, pool=pool, k=8)
    answer = strategy.answer(questions[0])
    assert answer.dropped_demonstrations, "160 tokens cannot hold 8 demonstrations"
    assert len(answer.demonstrations) + len(answer.dropped_demonstrations) == 8
    assert answer.tokens_in <= 160 - 8
    assert all(d.question not in answer.prompt for d in answer.dropped_demonstrations)


def test_a_question_longer_than_the_window_is_an_error_not_a_truncation(tiny, common):
    small = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, context_window=64))
    strategy = ZeroShot(**{**common, "engine": small})
    with pytest.raises(QuestionTooLong, match=r"over the 56 available \(context window 64 - 8 answer tokens\)"):
        strategy.answer("Why " * 80 + "?")


def _prompt(engine, question: str) -> list[int]:
    return engine.encode(engine.render([{"role": "user", "content": question}]))


def test_concurrent_callers_share_one_batch_and_get_their_own_answers(tiny, questions):
    """Four callers asking while the model is busy are answered in one batch, each with its own limits,
    and each answer is the one it gets alone (greedy)."""
    import threading
    import time

    from workbench.generation.batching import Row, Sampling

    limits = [GenerationSettings(max_new_tokens=n, batch_size=8) for n in (3, 5, 8, 8)]
    engines = [GenerationEngine(tiny, settings) for settings in limits]
    prompts = [_prompt(engines[0], q.question) for q in questions[:4]]
    alone = [engine.generate([prompt])[0] for engine, prompt in zip(engines, prompts)]
    scheduler = engines[0].adapters.scheduler
    busy = scheduler.submit([Row(prompts[0], None, max_new_tokens=1000)], Sampling(), max_rows=8, stream=True)
    busy.pieces.get()  # the model is generating: the four below queue up meanwhile
    before = scheduler.batches
    together: list = [None] * 4
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, engines[i].generate([prompts[i]])[0]))
               for i in range(4)]
    for thread in threads:
        thread.start()
    while scheduler.waiting < 4:
        time.sleep(0.01)
    busy.cancel()
    for thread in threads:
        thread.join()
    assert scheduler.batches - before == 2, "the busy row's batch, then one for the four waiting"
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.tokens_out for g in together] == [3, 5, 8, 8] and together[0].finish_reason == "length"


def test_a_stop_string_ends_the_answer_before_it_in_generate_and_stream(tiny, questions):
    engine = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8))
    prompt = _prompt(engine, questions[0].question)
    full = engine.generate([prompt])[0].text
    stop = full[len(full) // 2:len(full) // 2 + 3]
    stopping = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, stop=(stop,)))
    [generated] = stopping.generate([prompt])
    assert generated.text == full[:full.index(stop)] and generated.finish_reason == "stop"
    streamed = list(stopping.stream(prompt))
    assert "".join(streamed[:-1]) == generated.text == streamed[-1].text


def test_a_caller_gone_stops_its_row_and_frees_the_model(tiny, questions):
    from workbench.generation.batching import Row, Sampling

    scheduler = GenerationEngine(tiny).adapters.scheduler
    prompt = _prompt(GenerationEngine(tiny), questions[0].question)
    submission = scheduler.submit([Row(prompt, None, max_new_tokens=400)], Sampling(), max_rows=4, stream=True)
    submission.pieces.get()  # the first piece: generation has started
    submission.cancel()
    [result] = submission.wait()
    assert len(result.tokens) < 400, "the row stops once its caller is gone"
