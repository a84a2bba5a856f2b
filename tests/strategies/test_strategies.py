"""Each strategy (8 answer tokens, on the tiny random generator: what is checked is what the strategies
put in the prompt and record, never what the answer says), the Answer record, adapters, and bad inputs."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from workbench.corpus import DatasetError, QAPair
from workbench.errors import WorkbenchError
from workbench.generation import AdapterError, GenerationEngine, GenerationSettings
from workbench.strategies import (
    EmptyQuestion,
    FewShot,
    Finetuned,
    Rag,
    RagFinetuned,
    StrategyFactory,
    StrategyOptions,
    ZeroShot,
)


def test_zero_shot_answer_records_prompt_tokens_model_and_timing(common, questions, tiny_generator):
    question = questions[0]
    answer = ZeroShot(**common).answer(question)
    engine = common["engine"]
    assert answer.strategy == "zero-shot" and answer.question == question.question
    assert question.question in answer.prompt and common["system_prompt"] in answer.prompt
    assert answer.prompt.startswith("<|im_start|>system")  # the model's own chat template
    assert answer.tokens_in == len(engine.encode(answer.prompt))
    assert 1 <= answer.tokens_out <= 8
    assert answer.raw_text and answer.text  # clean-up steps are listed when they changed the text
    assert (answer.text == answer.raw_text.strip()) == (answer.postprocessing == ())
    assert answer.model == tiny_generator and answer.adapter is None
    assert answer.retrieval_seconds == 0 and answer.generation_seconds > 0
    assert answer.sources == answer.demonstrations == answer.dropped_sources == ()
    json.dumps(answer.to_dict())  # the record is plain data


def test_few_shot_never_shows_the_evaluated_question_nor_its_paragraph(common, demo_corpus):
    question = demo_corpus.qa_pairs[0]
    twin = QAPair("other-id", "  " + question.question.upper() + " ", ("x",))  # same text, other id
    sibling = QAPair("sibling", "Who ruled there?", ("Rollo",), doc_id=question.doc_id)  # same paragraph
    assert question.doc_id and all(p.doc_id != question.doc_id for p in demo_corpus.qa_pairs[200:204])
    pool = [question, twin, sibling] + demo_corpus.qa_pairs[200:204]
    strategy = FewShot(**common, pool=pool, k=10, seed=7)
    answer = strategy.answer(question)
    shown = {d.id for d in answer.demonstrations}
    assert shown == {p.id for p in demo_corpus.qa_pairs[200:204]}
    for demo in answer.demonstrations:
        assert demo.question in answer.prompt and demo.answer in answer.prompt


def test_few_shot_random_choice_is_seeded_per_question(common, demo_corpus, questions):
    pool = demo_corpus.qa_pairs[100:160]
    first = FewShot(**common, pool=pool, k=3, seed=1)
    picked = [[d.id for d in a.demonstrations] for a in first.answer_many(questions[:2])]
    again = [d.id for d in FewShot(**common, pool=pool, k=3, seed=1).answer(questions[1]).demonstrations]
    other_seed = [d.id for d in FewShot(**common, pool=pool, k=3, seed=2).answer(questions[1]).demonstrations]
    assert all(len(ids) == 3 for ids in picked)
    assert again == picked[1]  # alone or in a batch: same demonstrations
    assert other_seed != again


def test_few_shot_similar_picks_the_closest_questions_first(common, indexing, demo_corpus):
    question = QAPair("q", "In what country is Normandy located?", ("France",))
    close = QAPair("close", "Which country is the region of Normandy part of?", ("France",))
    pool = [close] + demo_corpus.qa_pairs[400:420]
    answer = FewShot(**common, pool=pool, k=3, selection="similar").answer(question)
    assert answer.demonstrations[0].id == "close"
    scores = [d.score for d in answer.demonstrations]
    assert scores == sorted(scores, reverse=True)


def test_rag_numbers_the_retrieved_chunks_in_the_prompt(common, small_index, questions):
    index, _ = small_index
    answer = Rag(**common, index=index, k=3).answer(questions[0])
    expected = index.search(questions[0].question, k=3)
    assert [s.chunk_id for s in answer.sources] == [h.chunk_id for h in expected]
    assert [s.number for s in answer.sources] == [1, 2, 3]
    assert [s.doc_id for s in answer.sources] == [h.doc_id for h in expected]
    for source in answer.sources:
        assert f"[{source.number}] {source.text}" in answer.prompt
        assert source.end - source.start > 0
    assert answer.retrieval_seconds > 0


def test_rag_drops_the_lowest_ranked_chunks_when_the_window_is_small(common, tiny, small_index, questions):
    index, _ = small_index
    small = GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, context_window=420))
    answer = Rag(**{**common, "engine": small}, index=index, k=5).answer(questions[0])
    ranked = [h.chunk_id for h in index.search(questions[0].question, k=5)]
    assert answer.dropped_sources, "420 tokens cannot hold five ~200-token paragraphs"
    assert [s.chunk_id for s in answer.sources + answer.dropped_sources] == ranked
    assert answer.tokens_in <= 420 - 8


def test_adapters_switch_per_request_on_one_base_model(common, lora_adapters, questions, tiny):
    alpha_path, beta_path = lora_adapters
    adapters = common["engine"].adapters
    base_before = ZeroShot(**common).answer_many(questions[:2])
    alpha = Finetuned(**common, adapter=adapters.load(alpha_path, "alpha"))
    beta = Finetuned(**common, adapter=adapters.load(beta_path, "beta"))
    a1, b1, a2 = alpha.answer(questions[0]), beta.answer(questions[0]), alpha.answer(questions[0])
    base_after = ZeroShot(**common).answer_many(questions[:2])

    assert a1.raw_text == a2.raw_text  # switching back gives alpha's answer again
    assert len({a1.raw_text, b1.raw_text, base_before[0].raw_text}) == 3  # each adapter changes the output
    assert [a.raw_text for a in base_after] == [a.raw_text for a in base_before]  # base untouched at rest
    assert (a1.adapter, a1.adapter_path, a1.strategy) == ("alpha", str(alpha_path), "finetuned[alpha]")
    assert {a.path for a in adapters.loaded.values()} >= {alpha_path, beta_path}
    # a long-lived server asked for another folder under a name already shown: loaded, not refused
    renamed = Finetuned(**common, adapter=adapters.load(beta_path, "alpha")).answer(questions[0])
    assert (renamed.adapter, renamed.raw_text) == ("alpha", b1.raw_text)
    assert tiny.model is adapters.generator.model  # one copy of the base model


def _fresh_answer(model, engine, prompt: str) -> str:
    """The greedy answer of `model`, called directly (no engine, no adapter switching), to `prompt`."""
    ids = engine.encode(prompt)
    with torch.inference_mode():
        output = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=8, do_sample=False,
                                pad_token_id=engine.tokenizer.pad_token_id)
    return engine.tokenizer.decode(output[0, len(ids):], skip_special_tokens=True)


def test_a_switched_adapter_answers_like_a_freshly_loaded_peft_model(common, lora_adapters, questions, private_base):
    from peft import PeftModel

    alpha_path, _ = lora_adapters
    engine = common["engine"]
    answer = Finetuned(**common, adapter=engine.adapters.load(alpha_path, "alpha")).answer(questions[1])
    assert answer.raw_text == _fresh_answer(PeftModel.from_pretrained(private_base(), alpha_path), engine, answer.prompt)


def test_bottleneck_adapter_switches_on_the_shared_base_model(common, bottleneck_adapter, questions, private_base):
    from workbench.models.bottleneck import load_bottleneck

    engine = common["engine"]
    base_before = ZeroShot(**common).answer(questions[2])
    adapter = engine.adapters.load(bottleneck_adapter, "bottleneck")
    answer = Finetuned(**common, adapter=adapter).answer(questions[2])
    base_after = ZeroShot(**common).answer(questions[2])
    fresh = private_base()
    load_bottleneck(fresh, bottleneck_adapter)

    assert adapter.peft_type == "BOTTLENECK" and answer.strategy == "finetuned[bottleneck]"
    assert answer.raw_text == _fresh_answer(fresh.eval(), engine, answer.prompt)
    assert answer.raw_text != base_before.raw_text  # the adapter changes the output
    assert base_after.raw_text == base_before.raw_text  # at rest the shared model is the base model


def test_prompt_tuning_loads_beside_lora_and_a_second_layer_type_is_refused(common, lora_adapters, questions,
                                                                           peft_adapter_factory, private_base):
    """peft combines one adapter type per PeftModel: prompt tuning gets its own; IA3 beside LoRA cannot."""
    from peft import PeftModel

    engine = common["engine"]
    alpha = Finetuned(**common, adapter=engine.adapters.load(lora_adapters[0], "alpha"))
    before = alpha.answer(questions[3])
    prompt_path = peft_adapter_factory("prompt-tuning")
    soft = Finetuned(**common, adapter=engine.adapters.load(prompt_path, "soft-prompt")).answer(questions[3])

    assert alpha.answer(questions[3]).raw_text == before.raw_text
    assert soft.raw_text == _fresh_answer(PeftModel.from_pretrained(private_base(), prompt_path).eval(), engine,
                                          soft.prompt)
    with pytest.raises(AdapterError, match="IA3 adapters cannot be loaded beside the LORA adapters"):
        engine.adapters.load(peft_adapter_factory("ia3"), "ia3")


def test_finetuning_examples_carry_the_prompts_the_finetuned_strategies_send(common, small_index, demo_corpus):
    """Training = inference: `qa_examples` renders the very prompt `finetuned` / `rag+finetuned` send."""
    from workbench.training.examples import qa_examples

    index, _ = small_index
    pairs, system, engine = demo_corpus.qa_pairs[:2], common["system_prompt"], common["engine"]
    for context, strategy in (("none", Finetuned(**common, variant="check")),
                              ("retrieved", RagFinetuned(**common, index=index, k=2, variant="check"))):
        examples = qa_examples(pairs, system, context, index, k=2)
        assert [engine.render(list(e.messages)) for e in examples] == [a.prompt for a in strategy.answer_many(pairs)]
    gold = qa_examples(pairs[:1], system, "gold")[0]
    assert gold.messages[-1]["content"].startswith(f"Context:\n[1] {pairs[0].context}\n\nQuestion: ")


def test_rag_finetuned_retrieves_and_uses_the_adapter(common, small_index, lora_adapters, questions):
    index, _ = small_index
    adapter = common["engine"].adapters.load(lora_adapters[0], "alpha")
    answer = RagFinetuned(**common, index=index, k=2, adapter=adapter).answer(questions[0])
    assert len(answer.sources) == 2 and answer.adapter == "alpha"
    assert "Context:\n[1] " in answer.prompt  # the finetuned RAG template (what training uses)


def test_a_training_run_folder_loads_its_adapter(common, lora_adapters, tmp_path):
    run = tmp_path / "lora-run"
    shutil.copytree(lora_adapters[0], run / "adapter")
    adapter = common["engine"].adapters.load(run)
    assert (adapter.name, adapter.path, adapter.peft_type) == ("lora-run", run / "adapter", "LORA")


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("question", ["", "   \n"])
def test_empty_question_is_an_error(common, question):
    with pytest.raises(EmptyQuestion, match="empty"):
        ZeroShot(**common).answer(question)


def test_adapter_errors_name_the_folder_and_the_problem(common, tmp_path, lora_adapters, tiny_generator):
    adapters = common["engine"].adapters
    with pytest.raises(AdapterError, match="folder not found"):
        adapters.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="no adapter_config.json nor bottleneck_config.json"):
        adapters.load(tmp_path / "empty")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    config = json.loads((lora_adapters[0] / "adapter_config.json").read_text())
    (foreign / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "gpt2"}))
    with pytest.raises(AdapterError, match=rf"trained for base model 'gpt2', not for '{re.escape(tiny_generator)}'"):
        adapters.load(foreign)
    with pytest.raises(AdapterError, match="needs an adapter"):
        Finetuned(**common)


def test_factory_errors_for_missing_index_pool_and_strategy(config, tmp_path):
    bad_pool = tmp_path / "pool.jsonl"
    bad_pool.write_text('{"question": "Where?"}\n')
    factory = StrategyFactory(config.updated({"generation.max_new_tokens": 8}), StrategyOptions(demonstrations=bad_pool))
    with pytest.raises(DatasetError, match=r"pool.jsonl: line 1: missing field 'answer'"):
        factory.build("few-shot")
    with pytest.raises(WorkbenchError, match="need an index: pass --index"):
        factory.build("rag")
    with pytest.raises(WorkbenchError, match="unknown strategy"):
        factory.build("two-shot")


def test_factory_missing_index_is_a_clear_error(config, indexing):
    factory = StrategyFactory(config.updated({"generation.max_new_tokens": 8}), StrategyOptions(index="nope"))
    with pytest.raises(WorkbenchError, match="nope"):
        factory.build("rag")

