"""Each metric against hand-computed values and against the reference library it wraps."""

from __future__ import annotations

import pytest

from workbench.evaluation import metrics
from workbench.evaluation.evaluator import evaluate, mean_scores


def test_squad_metrics_follow_the_official_normalization():
    assert metrics.exact_match("The Normans.", ["Normans"]) == 1.0  # case, punctuation, article
    # "in 10th century" against "10th and 11th centuries": one shared word, P = 1/3, R = 1/4, F1 = 2/7
    assert metrics.token_f1("in the 10th century", ["10th and 11th centuries"]) == pytest.approx(2 / 7)
    assert metrics.token_f1("France", ["Normandy", "France"]) == 1.0  # best over gold answers
    assert metrics.answer_contained("it was in France, I think", ["France"]) == 1.0
    assert metrics.answer_contained("Francesca", ["France"]) == 0.0  # whole words only


def test_macro_f1_counts_a_predicted_class_the_gold_labels_lack():
    # classes a, b, c: F1 1, 0, 0 -> 1/3 (averaging over the gold classes only would give 1/2)
    assert metrics.macro_f1(["a", "c"], ["a", "b"]) == pytest.approx(1 / 3)
    from sklearn.metrics import f1_score

    predictions, labels = ["x", "y", "y", "z", "x"], ["x", "y", "x", "x", "z"]
    assert metrics.macro_f1(predictions, labels) == pytest.approx(f1_score(labels, predictions, average="macro"))
    scores = metrics.per_class_scores(predictions, labels)
    assert scores["x"] == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "support": 3})


def test_classification_metrics_refuse_lists_of_different_lengths():
    for metric in (metrics.accuracy, metrics.macro_f1, metrics.per_class_scores):
        with pytest.raises(ValueError, match="2 predictions for 3 labels"):
            metric(["a", "b"], ["a", "b", "c"])


def test_rouge_by_hand():
    # 6 words each; shared unigrams cat, sat, on, mat: 4/6; bigrams cat-sat, sat-on: 2/5
    scores = metrics.rouge("the cat sat on the mat", ["a cat sat on a mat"])
    assert scores["rouge1"] == pytest.approx(4 / 6)
    assert scores["rouge2"] == pytest.approx(2 / 5)
    assert scores["rougeL"] == pytest.approx(4 / 6)
    assert metrics.rouge("cats running", ["cat runs"])["rouge1"] == 1.0  # Porter stemming, as published
    assert metrics.rouge("the cat", ["a dog", "the cat"])["rouge1"] == 1.0  # best reference


def test_bleu_and_chrf_against_sacrebleu():
    import sacrebleu

    hypothesis, reference = "the quick brown fox jumps over the dog", "the quick brown fox jumped over the lazy dog"
    assert metrics.sentence_bleu(reference, [reference]) == pytest.approx(100.0)
    assert metrics.sentence_bleu(hypothesis, [reference]) == pytest.approx(sacrebleu.sentence_bleu(hypothesis, [reference]).score)
    assert 0 < metrics.sentence_bleu(hypothesis, [reference]) < 100
    assert metrics.sentence_chrf(hypothesis, [reference]) == pytest.approx(sacrebleu.sentence_chrf(hypothesis, [reference]).score)
    # an item with fewer references than another: its first reference fills the missing stream
    assert metrics.corpus_bleu([hypothesis, reference], [[reference], [reference, hypothesis]]) == pytest.approx(
        sacrebleu.corpus_bleu([hypothesis, reference], [[reference, reference], [reference, hypothesis]]).score)


def test_the_evaluator_returns_rows_and_a_summary_with_intervals():
    evaluation = evaluate("classification", "clf", ["1", "2", "3", "4"], ["a", "b", "a", "a"], ["a", "b", "b", "a"],
                          extras=[{"text": t} for t in "wxyz"])
    assert [r["accuracy"] for r in evaluation.rows] == [1.0, 1.0, 0.0, 1.0]
    assert evaluation.rows[2] | {} == {"id": "3", "prediction": "a", "reference": "b", "accuracy": 0.0, "text": "y"}
    assert evaluation.primary_metric == "accuracy" and evaluation.primary.value == 0.75
    assert evaluation.primary.low <= 0.75 <= evaluation.primary.high
    assert evaluation.summary["macro_f1"].value == pytest.approx(metrics.macro_f1(["a", "b", "a", "a"], ["a", "b", "b", "a"]))
    assert mean_scores("qa", ["Paris", "Lyon"], [["Paris"], ["Nice"]]) == {"exact_match": 0.5, "token_f1": 0.5,
                                                                           "answer_contained": 0.5}
