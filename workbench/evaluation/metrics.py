"""The one metrics module shared by the CLI, the UI and the benchmarks.

QA metrics follow the official SQuAD v1.1 evaluation (normalize: lower-case, drop punctuation and
articles, collapse whitespace; take the best score over the gold answers). Retrieval metrics take,
for each query, the ranked list of retrieved ids and the set of relevant ids.
"""

from __future__ import annotations

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


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    return sum(p == t for p, t in zip(predictions, labels, strict=True)) / len(labels) if labels else 0.0


def macro_f1(predictions: Sequence[str], labels: Sequence[str]) -> float:
    classes = sorted(set(labels))
    return sum(per_class_scores(predictions, labels)[c]["f1"] for c in classes) / len(classes) if classes else 0.0


def per_class_scores(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for every class seen in the labels or the predictions."""
    scores = {}
    for c in sorted(set(labels) | set(predictions)):
        tp = sum(p == c and t == c for p, t in zip(predictions, labels))
        predicted, actual = sum(p == c for p in predictions), sum(t == c for t in labels)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return scores


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
