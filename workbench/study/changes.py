"""When the documents change: facts edited in a copy of the index, the questions about them asked again.

Retrieval reads the new text at once; a finetuned model keeps what it learnt until it is retrained.
An edit replaces a test question's answer where its chunk says it (a number becomes another number,
anything else becomes another answer of the corpus that the document does not contain), in a copy of
the index updated the way any changed document is.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass

from workbench.corpus import Document, QAPair
from workbench.indexing import Index, open_index
from workbench.ondisk import exclusive


@dataclass(frozen=True)
class Edit:
    question: QAPair  # as asked after the edit: the new answer is its gold answer
    old: str
    new: str


def edited_copy(index: Index, questions: list[QAPair], n: int, seed: int, content: str) -> tuple[Index, list[Edit]]:
    """A copy of `index` in which the answers of up to `n` of `questions` were changed in their documents,
    and the edits. The copy is named after the index's `content` key and the edits, so it is made once."""
    rng = random.Random(seed)
    others = sorted({a for q in questions for a in q.answers})
    edits: list[Edit] = []
    changed: dict[str, str] = {}
    for question in rng.sample(questions, len(questions)):
        if len(edits) == n:
            break
        old = question.answers[0]
        text = changed.get(question.doc_id) or (index.document_text(question.doc_id)
                                                 if question.doc_id in index.document_ids() else "")
        where = _span(text, question.context or "", old)
        new = _replacement(old, text, others, rng)
        if where is None or new is None:
            continue
        start, end = where
        changed[question.doc_id] = text[:start] + new + text[end:]
        context = (question.context or "").replace(old, new, 1)
        edits.append(Edit(QAPair(f"{question.id}-changed", question.question, (new,), context, question.doc_id), old, new))
    name = f"{index.name}-changed-{content[:8]}-{seed}-{len(edits)}"
    path = index.path.parent / name
    with exclusive(index.path.parent / f".{name}.lock"):
        if not path.exists():
            staging = index.path.parent / f"{name}-partial"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(index.path, staging, ignore=shutil.ignore_patterns("*.lock", ".lock"))
            copy = open_index(staging.name, index.path.parent)
            copy.add([Document(doc_id, text, _metadata(index, doc_id)) for doc_id, text in changed.items()])
            staging.rename(path)
    return open_index(name, index.path.parent), edits


def _span(text: str, context: str, answer: str) -> tuple[int, int] | None:
    """Where the answer stands in the document: inside the question's chunk when the chunk is found."""
    base = text.find(context) if context else -1
    start = text.find(answer, base) if base >= 0 else -1
    if start < 0 or (base >= 0 and start > base + len(context)):
        start = text.find(answer)
    return (start, start + len(answer)) if start >= 0 else None


def _replacement(answer: str, document: str, others: list[str], rng: random.Random) -> str | None:
    """A different value of the same shape: numbers shifted, else another answer the document lacks."""
    if re.search(r"\d", answer):
        return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)).zfill(len(m.group())), answer)
    candidates = [o for o in others if o.lower() != answer.lower() and o not in document and len(o.split()) <= 6]
    return rng.choice(candidates) if candidates else None


def _metadata(index: Index, doc_id: str) -> dict:
    chunk = next(c for _, c in index.chunks() if c.doc_id == doc_id)
    return dict(chunk.metadata)
