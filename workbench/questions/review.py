"""What a person does with generated questions: review them (accept, edit, reject; saved as a new file,
the original never changed) and split them into training and test files."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.corpus import DatasetError
from workbench.questions.records import GeneratedQuestion, read_questions, write_questions


@dataclass(frozen=True)
class Decision:
    """A reviewer's verdict on one item; `question` and `answer` are the edited texts (None: unchanged)."""

    review: Literal["accepted", "edited", "rejected"]
    question: str | None = None
    answer: str | None = None


def apply_review(source: Path, decisions: dict[str, Decision], output: Path) -> tuple[Path, int, int]:
    """Write the reviewed questions to `output` (never `source`): accepted and edited items, each marked,
    an edited one with its original text. An edited answer must occur verbatim in the item's chunk.
    Returns (output, kept, rejected)."""
    if Path(output).resolve() == Path(source).resolve():
        raise DatasetError(output, "a review is saved as a new file; the generated file is never changed")
    unknown = set(decisions) - {item.id for item in read_questions(source)}
    if unknown:
        raise DatasetError(source, f"no question with id {', '.join(sorted(unknown))}")
    kept, rejected = [], 0
    for item in read_questions(source):
        decision = decisions.get(item.id)
        if decision is None or decision.review == "accepted":
            kept.append(item.model_copy(update={"review": "accepted"}) if decision else item)
        elif decision.review == "rejected":
            rejected += 1
        else:
            kept.append(_edited(item, decision, source))
    if not kept:
        raise DatasetError(source, "every question was rejected: nothing to save")
    write_questions(output, kept)
    return output, len(kept), rejected


def _edited(item: GeneratedQuestion, decision: Decision, source: Path) -> GeneratedQuestion:
    question = (decision.question or item.question).strip()
    answer = (decision.answer or item.answers[0]).strip()
    if not question or not answer:
        raise DatasetError(source, "an edited question and its answer must not be empty", f"item {item.id}")
    start = item.context.find(answer, max(0, item.answer_start - len(answer)))
    start = start if start >= 0 else item.context.find(answer)
    if start < 0:
        raise DatasetError(source, f"the edited answer '{answer}' does not occur in the item's chunk (every kept "
                                   "answer occurs verbatim in its chunk)", f"item {item.id}")
    original = {"question": item.question, "answer": item.answers[0]}
    return item.model_copy(update={"question": question, "answers": [answer], "answer_start": start,
                                   "answer_end": start + len(answer), "review": "edited",
                                   "original": item.original or original})


def split_questions(source: Path, test_share: float, by: Literal["question", "chunk", "document"],
                    seed: int) -> tuple[tuple[Path, int], tuple[Path, int]]:
    """`source` split into SOURCE.train.jsonl and SOURCE.test.jsonl: whole groups (a question, a chunk's
    questions, a document's questions) go to one side, in a seeded order, until the test side holds its
    share. Returns ((train file, count), (test file, count))."""
    if not 0 < test_share < 1:
        raise DatasetError(source, f"--test-share must be between 0 and 1, got {test_share}")
    items = read_questions(source)
    key = {"question": lambda q: q.id, "chunk": lambda q: str(q.chunk_id), "document": lambda q: q.doc_id}[by]
    groups: dict[str, list[GeneratedQuestion]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    if len(groups) < 2:
        raise DatasetError(source, f"all questions belong to one {by}: nothing to split by {by}")
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    test: list[GeneratedQuestion] = []
    for name in order[:-1]:  # the last group always trains
        if len(test) >= test_share * len(items):
            break
        test.extend(groups[name])
    test_ids = {q.id for q in test}
    train = [q for q in items if q.id not in test_ids]
    stem = source.with_suffix("")
    paths = stem.with_name(stem.name + ".train.jsonl"), stem.with_name(stem.name + ".test.jsonl")
    write_questions(paths[0], train)
    write_questions(paths[1], [q for q in items if q.id in test_ids])
    return (paths[0], len(train)), (paths[1], len(test))
