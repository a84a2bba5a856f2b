"""The one metrics module shared by the CLI, the UI and the benchmarks.

QA metrics follow the official SQuAD v1.1 evaluation (normalize: lower-case, drop punctuation and
articles, collapse whitespace; take the best score over the gold answers). Retrieval metrics take,
for each query, the ranked list of retrieved ids and the set of relevant ids.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    return max((_f1(prediction, answer) for answer in answers), default=0.0)


def _f1(prediction: str, answer: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_contained(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the (normalized) prediction contains a (normalized) gold answer: fair to verbose models."""
    predicted = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(a)} " in predicted for a in answers if normalize_answer(a)))


def recall_at_k(retrieved: Sequence[str], relevant: set[str], k: int) -> float:
    """1.0 if any relevant id is among the first k (the usual 'hit rate' for one gold passage)."""
    return float(any(r in relevant for r in retrieved[:k]))


def reciprocal_rank(retrieved: Sequence[str], relevant: set[str]) -> float:
    return next((1.0 / rank for rank, r in enumerate(retrieved, start=1) if r in relevant), 0.0)


def ndcg_at_k(retrieved: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG; a relevant id counts once even if several chunks of it are retrieved."""
    seen: set[str] = set()
    dcg = 0.0
    for rank, r in enumerate(retrieved[:k], start=1):
        if r in relevant and r not in seen:
            seen.add(r)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


# ---- classification: scikit-learn -------------------------------------------------------------------


def _checked(predictions: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return list(predictions), list(labels)


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score

    predictions, labels = _checked(predictions, labels)
    return float(accuracy_score(labels, predictions)) if labels else 0.0


def macro_f1(predictions: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean F1 over every class seen in the labels *or* the predictions (scikit-learn's
    `average="macro"`): predicting a class the gold labels lack costs a zero-F1 class."""
    from sklearn.metrics import f1_score

    predictions, labels = _checked(predictions, labels)
    return float(f1_score(labels, predictions, average="macro", zero_division=0)) if labels else 0.0


def per_class_scores(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for every class seen in the labels or the predictions."""
    from sklearn.metrics import precision_recall_fscore_support

    predictions, labels = _checked(predictions, labels)
    classes = sorted(set(labels) | set(predictions))
    if not classes:
        return {}
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=classes,
                                                                     zero_division=0)
    return {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for c, p, r, f, n in zip(classes, precision, recall, f1, support)}


# ---- generated text: rouge-score and sacrebleu ---------------------------------------------------------

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F-measures (Porter stemming, as in the published summarization figures), the
    best over the references. Lsum splits summaries into sentences on newlines."""
    scorer = _rouge_scorer()
    scores = [scorer.score(reference, prediction) for reference in references]
    return {name: max((s[name].fmeasure for s in scores), default=0.0) for name in ROUGE_TYPES}


def sentence_bleu(prediction: str, references: Sequence[str]) -> float:
    """sacrebleu's smoothed sentence BLEU (0-100) against every reference."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(prediction, list(references)).score)


def sentence_chrf(prediction: str, references: Sequence[str]) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_chrf(prediction, list(references)).score)


def corpus_bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU (0-100), the figure papers report; `references[i]` are item i's references."""
    import sacrebleu

    predictions, references = list(predictions), [list(r) for r in references]
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference lists")
    streams = max((len(r) for r in references), default=0)
    # sacrebleu takes one stream per reference position; items with fewer references repeat their first
    columns = [[r[j] if j < len(r) else r[0] for r in references] for j in range(streams)]
    return float(sacrebleu.corpus_bleu(predictions, columns).score)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
