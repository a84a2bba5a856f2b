"""Finetuning on a user's own documents: continued pretraining on their text, QA on top of it (--base),
test questions never trained on, and classifiers on the folders the documents sit in."""

from __future__ import annotations

import json

import pytest

from workbench.corpus import QAPair, load_demo_corpus
from workbench.corpus.labels import LabelError, LabelSource, split_by_document
from workbench.evaluation.leakage import held_out_overlaps
from workbench.requests import ClassifierRequest, GeneratorRequest
from workbench.session import Workbench
from workbench.training.data import tokenize_completions
from workbench.training.examples import document_examples

QUICK = {"training.max_steps": 2, "training.generator.batch_size": 4, "training.forgetting_items": 0,
         "training.generator.eval_generate": 2, "generation.max_new_tokens": 8, "training.checkpoint_every": 0}


def test_a_document_is_learned_whole_from_its_start_token(generator):
    [tokenized], report = tokenize_completions(document_examples(["MPFR rounds to nearest by default."]),
                                               generator.tokenizer, max_length=64)
    assert tokenized["labels"] == tokenized["input_ids"] and tokenized["input_ids"][-1] == generator.tokenizer.eos_token_id
    [cut], report = tokenize_completions(document_examples(["word " * 200]), generator.tokenizer, max_length=16)
    assert len(cut["input_ids"]) == 16 and report.truncated == 1


def test_documents_then_questions_on_top(config, tmp_path, demo_corpus):
    """Continued pretraining on an index's chunks, then a QA LoRA built on that run: the second run answers
    on the first run's merged weights, and its held-out questions are never trained on."""
    from workbench.indexing import build_index
    from workbench.strategies import StrategyOptions

    documents = [d for d in demo_corpus.documents if d.metadata["title"] == "Normans"][:12]
    build_index("normans", documents, config=config)
    quick = config.updated(QUICK)
    docs_run = Workbench(quick).train(GeneratorRequest(format="documents", index="normans",
                                                               output=tmp_path / "docs"))
    assert docs_run.config().source.startswith("documents of index 'normans' (12 documents")
    assert docs_run.config().index == "normans"  # what Compare compares with the index it answers on
    assert "exact_match" not in docs_run.summary()["final"]  # a document has nothing to answer

    pairs = [p for p in demo_corpus.qa_pairs if p.topic == "Normans"][:24]
    held_out = pairs[:4]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"id": p.id, "question": p.question,
                                                              "answers": list(p.answers), "context": p.context}) + "\n"
                                                  for p in pairs))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"id": p.id, "question": p.question,
                                                             "answers": list(p.answers), "context": p.context}) + "\n"
                                                 for p in held_out))
    on_top = quick.updated({"training.generator.base_run": str(docs_run.path)})
    qa_run = Workbench(on_top).train(GeneratorRequest(data=tmp_path / "train.jsonl",
                                                              held_out=tmp_path / "test.jsonl", output=tmp_path / "qa"))
    assert "4 pair(s) dropped as leaking a question of" in qa_run.config().source
    assert qa_run.config().train_examples + qa_run.config().eval_examples == 20
    assert qa_run.config().options.base_run == str(docs_run.path)
    [outcome] = Workbench(quick).ask(held_out[0].question, ["finetuned"], StrategyOptions(adapters=(str(qa_run.path),)))
    assert outcome.error is None and outcome.answers[0].text


def test_the_leakage_guard_catches_copies_rewordings_and_the_same_fact():
    context = "Rollo was the leader of the Norse raiders who settled in Normandy in 911."
    question = "Who was the leader of the Norse raiders from Denmark, Iceland and Norway who settled in Normandy in 911?"
    held_out = [QAPair("t1", question, ("Rollo",), context)]
    learned = [QAPair("a", question.lower().rstrip("?"), ("Rollo",)),
               QAPair("b", f"Tell me: {question.rstrip('?')}, by name?", ("Rollo",)),
               QAPair("c", "In which year did the raiders settle?", ("911",), context),
               QAPair("d", "Which chieftain led them?", ("Rollo",), context),
               QAPair("e", "Which chieftain led them?", ("Rollo",), "Another text about Rollo.")]
    leaks = held_out_overlaps(learned, held_out)
    assert leaks["a"][0] == "same text" and "13-word" in leaks["b"][0]
    assert leaks["d"] == ["the same answer in the same context as a held-out question"]
    assert "c" not in leaks and "e" not in leaks


def _folders(root, classes=("Normans", "Southern_California", "Steam_engine"), per_class=4):
    corpus = load_demo_corpus()
    for title in classes:
        folder = root / title
        folder.mkdir(parents=True)
        paragraphs = [d.text for d in corpus.documents if d.metadata["title"] == title]
        for i in range(per_class):
            (folder / f"part{i}.txt").write_text("\n\n".join(paragraphs[2 * i:2 * i + 2]))
    (root / "README.txt").write_text("A file at the top carries no folder label.")
    return root


def test_classifiers_train_on_folder_labels_split_by_document(config, tmp_path):
    folder = _folders(tmp_path / "docs")
    run = Workbench(config.updated({"training.classifier.method": "head", "training.classifier.epochs": 1,
                                               "training.classifier.batch_size": 8})).train(ClassifierRequest(data=folder, labels="folder", test_fraction=0.25,
                                                     output=tmp_path / "run"))
    assert run.config().classes == ["Normans", "Southern_California", "Steam_engine"]
    assert "3 test document(s); 1 document(s) without a label left out" in run.config().source
    assert 0 <= run.summary()["final"]["accuracy"] <= 1


def test_labels_from_metadata_and_what_cannot_be_classified():
    passages = [(f"doc{i}", f"text {i}", {"team": team}) for i, team in enumerate(["red", "red", "blue", "blue", "blue"])]
    passages += [("doc0", "more of document 0", {"team": "red"}), ("loose", "no team", {})]
    split = split_by_document(passages, LabelSource.parse("metadata:team"), 0.5, seed=0)
    test_documents = set(split.test_documents)
    assert test_documents in ({"doc0", "doc2", "doc3"}, {"doc0", "doc2", "doc4"}, {"doc0", "doc3", "doc4"},
                              {"doc1", "doc2", "doc3"}, {"doc1", "doc2", "doc4"}, {"doc1", "doc3", "doc4"})
    assert split.unlabelled == ["loose"] and {row.label for row in split.train} == {"red", "blue"}
    held_texts = {text for doc_id, text, _ in passages if doc_id in test_documents}
    assert {row.text for row in split.test} == held_texts and not held_texts & {row.text for row in split.train}
    with pytest.raises(LabelError, match="1 class.*two or more"):
        split_by_document(passages[:2], LabelSource.parse("metadata:team"), 0.5, seed=0)
    with pytest.raises(LabelError, match="give folder, or metadata:KEY"):
        LabelSource.parse("metadata:")
    assert LabelSource.parse("folder").label("reports/2023/q1.pdf#page2", {}) == "reports"
    assert LabelSource.parse("folder").label("q1.pdf", {}) is None


def test_a_classification_experiment_reads_folder_labels(config, tmp_path):
    from workbench.config.experiment import ExperimentSpec
    from workbench.experiments.data import load_split

    folder = _folders(tmp_path / "docs")
    spec = ExperimentSpec.model_validate({
        "name": "folders", "task": "classification", "strategies": [{"strategy": "zero-shot"}],
        "data": {"labels": "folder", "documents": str(folder), "test_fraction": 0.25, "eval_items": None}})
    data = load_split(config, spec, None, None)
    assert data.labels == ["Normans", "Southern_California", "Steam_engine"]
    assert not {p.question for p in data.train} & {p.question for p in data.test}


def test_documents_request_needs_one_source(tmp_path):
    with pytest.raises(Exception, match="--index NAME.*--data PATH"):
        GeneratorRequest(format="documents").check()
    with pytest.raises(Exception, match="question-answer data"):
        GeneratorRequest(format="documents", index="x", paraphrases=2).check()
