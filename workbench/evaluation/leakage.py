"""The leakage guard: an evaluated item that also appears in what a strategy learns from (training
data, demonstration pool) measures memory, not the strategy. Each evaluated item is checked for the
same normalized text and for any shared 13-word sequence (the n-gram test of the GPT-3 paper's
contamination study). Retrieval finding the gold paragraph is by design and not checked here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from workbench.corpus import QAPair
from workbench.evaluation.metrics import normalize_answer

NGRAM = 13


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = normalize_answer(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def find_overlaps(evaluated: Sequence[str], learned: Iterable[str], n: int = NGRAM) -> list[list[str]]:
    """For each evaluated text, why it overlaps the learned texts (empty: clean): 'same text' and/or
    'shares a 13-word sequence: ...'."""
    learned = list(learned)
    same = {normalize_answer(t) for t in learned}
    seen: set[tuple[str, ...]] = set().union(*(ngrams(t, n) for t in learned)) if learned else set()
    reasons = []
    for text in evaluated:
        found = []
        if normalize_answer(text) in same:
            found.append("same text")
        shared = next((g for g in sorted(ngrams(text, n)) if g in seen), None)
        if shared is not None:
            found.append(f"shares a {n}-word sequence: '{' '.join(shared)}'")
        reasons.append(found)
    return reasons


def held_out_overlaps(learned: Sequence[QAPair], held_out: Sequence[QAPair]) -> dict[str, list[str]]:
    """Training pairs that would leak a held-out question, by training pair id: the same or a 13-word
    overlapping question (a paraphrase that came out as the test question), or the same answer in the same
    context (two questions written for one fact)."""
    facts = {(normalize_answer(p.context or ""), normalize_answer(a)) for p in held_out if p.context for a in p.answers}
    overlaps = find_overlaps([p.question for p in learned], [p.question for p in held_out])
    leaks = {}
    for pair, reasons in zip(learned, overlaps):
        found = list(reasons)
        if pair.context and any((normalize_answer(pair.context), normalize_answer(a)) in facts for a in pair.answers):
            found.append("the same answer in the same context as a held-out question")
        if found:
            leaks[pair.id] = found
    return leaks
