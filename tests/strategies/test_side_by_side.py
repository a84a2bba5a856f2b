"""Side by side in one pass: strategies that share an engine generate in one batch (LoRA adapters
beside the base model through peft's mixed-adapter batches), and each answer is the one its
strategy gives alone (greedy)."""

from __future__ import annotations

from workbench.generation import AdapterError
from workbench.strategies import FewShot, Finetuned, Rag, RagFinetuned, ZeroShot, answer_together, stream_together
from workbench.strategies.side_by_side import share_batches


def _lineup(common, lora_adapters, peft_adapter_factory, small_index, demo_corpus):
    """Base-model strategies, two LoRA adapters (mixable) and a prompt-tuning adapter (not)."""
    adapters = common["engine"].adapters
    alpha, beta = (adapters.load(path, name) for path, name in zip(lora_adapters, ("alpha", "beta")))
    soft = adapters.load(peft_adapter_factory("prompt-tuning"), "soft")
    index, _ = small_index
    return [ZeroShot(**common), FewShot(**common, pool=demo_corpus.qa_pairs[100:130], k=2),
            Rag(**common, index=index, k=1), Finetuned(**common, adapter=alpha),
            Finetuned(**common, adapter=soft), RagFinetuned(**common, adapter=beta, index=index, k=1)]


def test_strategies_answer_together_as_each_answers_alone(common, lora_adapters, peft_adapter_factory,
                                                          small_index, demo_corpus, questions):
    strategies = _lineup(common, lora_adapters, peft_adapter_factory, small_index, demo_corpus)
    prompted = {position: s.prompted(questions[:2]) for position, s in enumerate(strategies)}
    assert share_batches(strategies, prompted) == [[0, 1, 2, 3, 5], [4]]  # the learned prompt batches alone

    together = answer_together(strategies, questions[:2])  # 10 mixed rows in batches of 4, and 2 rows
    alone = [s.answer_many(questions[:2]) for s in strategies]
    assert [[a.raw_text for a in answers] for answers in together] == [[a.raw_text for a in answers] for answers in alone]
    assert [a.strategy for a in together[5]] == ["rag+finetuned[beta]"] * 2 and together[5][0].sources
    assert len({answers[0].raw_text for answers in together}) > 3, "adapters must change the answers"


def test_stream_together_fills_each_column_and_keeps_a_failure_in_its_own(common, lora_adapters, peft_adapter_factory,
                                                                           small_index, demo_corpus, questions):
    strategies = _lineup(common, lora_adapters, peft_adapter_factory, small_index, demo_corpus)
    class Broken(type(strategies[0])):  # a strategy whose adapter could not be loaded: it fails when asked
        def prompted(self, questions):
            raise AdapterError("adapter broken: not an adapter folder")

    strategies.insert(1, Broken(engine=strategies[0].engine, templates=strategies[0].templates,
                                system_prompt=strategies[0].system_prompt))
    pieces: dict[int, list[str]] = {p: [] for p in range(len(strategies))}
    finished = {}
    for position, item in stream_together(strategies, questions[0]):
        if isinstance(item, str):
            assert position not in finished, "a column's pieces come before its answer"
            pieces[position].append(item)
        else:
            finished[position] = item
    assert str(finished.pop(1)) == "adapter broken: not an adapter folder" and not pieces[1]
    alone = {p: strategies[p].answer(questions[0]) for p in finished}
    assert {p: a.raw_text for p, a in finished.items()} == {p: a.raw_text for p, a in alone.items()}
    assert all("".join(pieces[p]).strip() == a.raw_text.strip() for p, a in finished.items())
