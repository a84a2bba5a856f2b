"""Questions from an index's chunks, answer first: pick an answer span in a chunk (`spans.py`), have the
generator write a question for it from the passage around it, then check the question (`FILTERS`).

- Spread: each document gets a share of the questions in proportion to its text (largest remainder);
  within a document the answers are taken round-robin over its chunks, so questions cover it evenly.
  A document with fewer candidate answers than its share gives the rest to the others, and the report
  says so; so does a corpus that cannot give as many questions as asked.
- Checks, each counted in the report: the output is a question (malformed output is retried with the
  demonstrations in another order, then counted as a failure), the answer occurs in the chunk, the
  question does not contain the answer, it asks about this text, it does not copy a demonstration,
  and it is no near-duplicate of a question already kept. A rejected item is listed in the report with
  its reasons, never dropped silently. At most `CANDIDATE_BUDGET` answers are tried per question asked.
- Recorded, not filtered on (filtering would tilt the test set): whether the question retrieves its own
  chunk among the index's top k, whether the writing model answers it from its chunk (the round trip;
  a filter only when asked for), and whether the base model answers it closed-book.
- Deterministic for a seed (greedy decoding; the plan is seeded). Every generation is appended to a
  work log beside the output, so a killed run resumes where it stopped and redoes nothing finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Config
from workbench.corpus import QAPair
from workbench.errors import WorkbenchError
from workbench.evaluation.leakage import ngrams
from workbench.evaluation.metrics import answer_contained, normalize_answer
from workbench.generation import GenerationEngine, PromptTemplates
from workbench.generation.prompts import QuestionTemplates
from workbench.indexing import Chunk, Index
from workbench.models.prompt_format import prompt_format
from workbench.ondisk import exclusive, write_atomic, write_json
from workbench.progress import ProgressCallback, start_stage
from workbench.questions.records import FILTERS, GeneratedQuestion, write_questions
from workbench.questions.spans import Span, candidate_spans
from workbench.requests import QuestionsRequest

if TYPE_CHECKING:
    from workbench.models.pool import ModelPool

ATTEMPTS = 3  # writings of one answer's question before it counts as a failure
CANDIDATE_BUDGET = 4  # answers tried per question asked, at most: the rest of a shortfall is reported
PASSAGE_CHARACTERS = 400
NEAR_DUPLICATE = 0.8  # word-set overlap (Jaccard) at which two questions ask the same thing
_KIND_WEIGHT = {"identifier": 4, "date": 3, "number": 3, "name": 3, "term": 3, "cell": 2, "phrase": 1}
_STOPWORDS = set(["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does", "did", "do", "is", "are", "was", "were", "the", "this", "that", "these", "those", "for", "from", "with", "into", "about", "following", "used", "use", "value", "name", "function", "correct", "best", "most"])
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_QUESTION_PREFIX = re.compile(r"^\s*(?:\d+[.)]\s*|[-*]\s*|(?:question|q)\s*[:.]\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Planned:
    """One answer to write a question for."""

    doc_id: str
    title: str
    chunk_id: int
    chunk: Chunk
    span: Span


@dataclass
class Outcome:
    planned: Planned
    question: str
    raw: list[str]  # the generator's output at each attempt
    filters: dict[str, bool]
    with_chunk: str | None = None  # the writing model's own answer to the question, given the chunk

    @property
    def kept(self) -> bool:
        return all(self.filters.values())

    def reasons(self) -> list[str]:
        """The checks it failed."""
        return [name for name, passed in self.filters.items() if not passed]


@dataclass
class QuestionReport:
    """What a generation run did, for the report file beside the questions."""

    requested: int
    kept: int
    model: str
    seed: int
    documents: int
    chunks: int
    filters: dict[str, dict[str, int]]  # filter -> {"passed": n, "failed": n}
    malformed_after_retries: int
    shortfall: list[str]  # why fewer than requested, in words
    per_document: dict[str, dict[str, int]]  # doc id -> share, candidate answers, kept
    shares: dict[str, float | None]  # of the kept: retrieve their own chunk, answered with it, answered closed-book
    rejected: list[dict]  # every rejected item with its reasons
    seconds: float
    questions_per_minute: float
    k: int
    answer_kinds: dict[str, int] = field(default_factory=dict)


def settings_key(index: Index, n: int, seed: int, model: str, templates: QuestionTemplates) -> str:
    """What the questions depend on: a work log written under another key is not reused."""
    parts = [index.version, n, seed, model, templates.model_dump(mode="json")]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class WorkLog:
    """Generations appended as they finish (one JSON line each), read back on a rerun with the same key.
    A line torn by a kill is ignored."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        self.done: dict[str, str] = {}
        if path.is_file():
            lines = path.read_text(encoding="utf-8").split("\n")
            header = _json_or_none(lines[0])
            if header and header.get("key") == key:
                for line in lines[1:]:
                    row = _json_or_none(line)
                    if row and "id" in row:
                        self.done[row["id"]] = row["output"]
        if not self.done:
            write_atomic(path, json.dumps({"key": key}) + "\n")

    def record(self, outputs: dict[str, str]) -> None:
        lines = "".join(json.dumps({"id": item, "output": output}, ensure_ascii=False) + "\n"
                        for item, output in outputs.items()).encode()
        with self.path.open("ab+") as handle:
            if handle.tell():
                handle.seek(-1, 2)
                if handle.read(1) != b"\n":  # the last line was torn by a kill: start a new one
                    lines = b"\n" + lines
            handle.write(lines)
            handle.flush()
        self.done.update(outputs)


def plan(index: Index, n: int, seed: int) -> tuple[dict[str, deque[Planned]], dict[str, int], list[str]]:
    """Per document, its queue of answers to ask about and its share of `n`; and what limits the shares."""
    rng = random.Random(seed)
    by_document: dict[str, list[tuple[int, Chunk]]] = {}
    for chunk_id, chunk in index.chunks():
        by_document.setdefault(chunk.doc_id, []).append((chunk_id, chunk))
    queues = {doc_id: deque(_round_robin(chunks, rng)) for doc_id, chunks in by_document.items()}
    lengths = {doc_id: len(index.document_text(doc_id)) for doc_id in by_document}
    shares = _proportional(n, lengths, {doc_id: len(queue) for doc_id, queue in queues.items()})
    notes = []
    empty = [doc_id for doc_id, queue in queues.items() if not queue]
    if empty:
        notes.append(f"{len(empty)} document(s) have no candidate answer (too short, or no identifiers, numbers, "
                     f"names or terms): {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}")
    possible = sum(len(queue) for queue in queues.values())
    if possible < n:
        notes.append(f"the index holds {possible} candidate answers in {sum(map(len, by_document.values()))} chunks, "
                     f"fewer than the {n} questions asked")
    return queues, shares, notes


def _round_robin(chunks: list[tuple[int, Chunk]], rng: random.Random) -> list[Planned]:
    """The chunks' candidate answers, one per chunk in turn (chunks in a seeded order), each chunk's
    answers in a seeded order weighted toward identifiers, numbers and names."""
    order = chunks[:]
    rng.shuffle(order)
    per_chunk = []
    for chunk_id, chunk in order:
        spans = candidate_spans(chunk.text)
        keys = {span: rng.random() ** (1 / _KIND_WEIGHT[span.kind]) for span in spans}  # weighted sampling order
        title = str(chunk.metadata.get("title") or chunk.doc_id)
        per_chunk.append([Planned(chunk.doc_id, title, chunk_id, chunk, span)
                          for span in sorted(spans, key=keys.get, reverse=True)])
    queue = []
    for turn in range(max((len(c) for c in per_chunk), default=0)):
        queue.extend(c[turn] for c in per_chunk if turn < len(c))
    return queue


def _proportional(n: int, weights: dict[str, int], capacity: dict[str, int]) -> dict[str, int]:
    """`n` split in proportion to `weights` by largest remainder, no key above its capacity (what a full
    key cannot take goes to the others, in proportion again)."""
    shares = {key: 0 for key in weights}
    remaining, open_keys = n, [key for key in weights if capacity[key] > 0]
    while remaining > 0 and open_keys:
        total = sum(weights[key] for key in open_keys) or len(open_keys)
        exact = {key: remaining * (weights[key] or 1) / total for key in open_keys}
        given = {key: int(exact[key]) for key in open_keys}
        for key in sorted(open_keys, key=lambda k: exact[k] - given[k], reverse=True)[:remaining - sum(given.values())]:
            given[key] += 1
        for key in open_keys:
            take = min(given[key], capacity[key] - shares[key])
            shares[key] += take
            remaining -= take
        open_keys = [key for key in open_keys if shares[key] < capacity[key]]
    return shares


def question_prompt(engine: GenerationEngine, templates: QuestionTemplates, planned: Planned, attempt: int = 0) -> list[int]:
    """Token ids asking for a question whose answer is the planned span, from the passage around it; each
    attempt puts the demonstrations in another order (a retry after malformed output)."""
    demos = _rotated(list(templates.demonstrations), attempt)
    asked = {"title": planned.title, "text": passage(planned.chunk.text, planned.span), "answer": planned.span.text}
    if prompt_format(engine.model_name, engine.tokenizer) == "completion":
        blocks = [templates.completion.format(title=d.title, text=d.text, answer=d.answer) + f" {d.question}\n\n"
                  for d in demos]
        return engine.encode((engine.tokenizer.bos_token or "") + "".join(blocks) + templates.completion.format(**asked))
    messages = [{"role": "system", "content": templates.system}]
    for d in demos:
        messages += [{"role": "user", "content": templates.request.format(title=d.title, text=d.text, answer=d.answer)},
                     {"role": "assistant", "content": d.question}]
    messages.append({"role": "user", "content": templates.request.format(**asked)})
    return engine.encode(engine.render(messages))


def passage(text: str, span: Span, limit: int = PASSAGE_CHARACTERS) -> str:
    """The sentence holding `span`, with its neighbours while they fit in `limit` characters, on one line:
    a small model writes a question about what it reads last and closest, so it reads little."""
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    first = max(i for i, b in enumerate(bounds) if b <= span.start)
    last = min(i for i, b in enumerate(bounds) if b >= span.end)
    while True:
        grown = False
        if first > 0 and bounds[last] - bounds[first - 1] <= limit:
            first, grown = first - 1, True
        if last < len(bounds) - 1 and bounds[last + 1] - bounds[first] <= limit:
            last, grown = last + 1, True
        if not grown:
            break
    return " ".join(text[bounds[first]:bounds[last]].split())


def paraphrase_prompt(engine: GenerationEngine, templates: QuestionTemplates, question: str, attempt: int = 0) -> list[int]:
    demos = _rotated(list(templates.paraphrase_demonstrations), attempt)
    if prompt_format(engine.model_name, engine.tokenizer) == "completion":
        blocks = [templates.paraphrase_completion.format(question=d.question) + f" {d.paraphrase}\n\n" for d in demos]
        return engine.encode((engine.tokenizer.bos_token or "") + "".join(blocks)
                             + templates.paraphrase_completion.format(question=question))
    messages = [{"role": "system", "content": templates.paraphrase_system}]
    for d in demos:
        messages += [{"role": "user", "content": templates.paraphrase_request.format(question=d.question)},
                     {"role": "assistant", "content": d.paraphrase}]
    messages.append({"role": "user", "content": templates.paraphrase_request.format(question=question)})
    return engine.encode(engine.render(messages))


def _rotated(items: list, turns: int) -> list:
    turns %= max(1, len(items))
    return items[turns:] + items[:turns]


def parse_question(raw: str) -> str:
    """The question in a generator's output: its first non-empty line, without a "Question:" prefix,
    numbering or quotes."""
    line = next((line for line in raw.splitlines() if line.strip()), "")
    return _QUESTION_PREFIX.sub("", line).strip().strip("\"'“”").strip()


def is_question(text: str) -> bool:
    words = text.split()
    return text.endswith("?") and 3 <= len(words) <= 40 and not text.lower().startswith(("answer", "text:"))


def contains_answer(question: str, answer: str) -> bool:
    answer = normalize_answer(answer)
    return bool(answer) and f" {answer} " in f" {normalize_answer(question)} "


def grounded(question: str, chunk: str, answer: str) -> bool:
    """The question asks about this text: at least two of its content words (not the answer's) occur in
    the chunk. A small model otherwise writes generic questions ("Which of the following is correct?")."""
    text_words = set(normalize_answer(chunk).split())
    answer_words = set(normalize_answer(answer).split())
    content = {w for w in normalize_answer(question).split() if len(w) > 2 and w not in _STOPWORDS} - answer_words
    return len(content & text_words) >= 2


def copied(question: str, templates: QuestionTemplates) -> bool:
    """The question repeats a demonstration's (a small model copies the pattern it was shown)."""
    return bool(ngrams(question, 4) & set().union(*(ngrams(d.question, 4) for d in templates.demonstrations)))


def near_duplicate(question: str, others: Sequence[str]) -> bool:
    words = set(normalize_answer(question).split())
    for other in others:
        theirs = set(normalize_answer(other).split())
        if words and theirs and len(words & theirs) / len(words | theirs) >= NEAR_DUPLICATE:
            return True
    return False


def write_questions_for(index: Index, n: int, seed: int, engine: GenerationEngine, templates: PromptTemplates,
                        work: WorkLog, system_prompt: str, roundtrip: bool = False,
                        progress: ProgressCallback | None = None) -> tuple[list[Outcome], list[Outcome], list[str], dict]:
    """Kept and rejected outcomes, in the order they were decided, what limited the count, and each
    document's share (in proportion to its text), candidate answers and kept questions."""
    queues, shares, notes = plan(index, n, seed)
    first_shares = dict(shares)
    candidates = {doc_id: len(queue) for doc_id, queue in queues.items()}
    kept: list[Outcome] = []
    rejected: list[Outcome] = []
    kept_per_document = {doc_id: 0 for doc_id in queues}
    writing = start_stage(progress, "writing questions", sum(shares.values()))
    budget = CANDIDATE_BUDGET * n
    while budget > 0:
        batch = [queues[doc_id].popleft() for doc_id in queues
                 for _ in range(min(shares[doc_id] - kept_per_document[doc_id], len(queues[doc_id])))][:budget]
        if not batch:
            break
        budget -= len(batch)
        outcomes = _write(batch, engine, templates.questions, work)
        _answer_with_chunk([o for o in outcomes if o.kept], engine, templates, work, system_prompt)
        for outcome in outcomes:
            if roundtrip and outcome.with_chunk is not None:
                outcome.filters["answered_with_chunk"] = bool(answer_contained(outcome.with_chunk, [outcome.planned.span.text]))
            outcome.filters["not_duplicate"] = not near_duplicate(outcome.question, [k.question for k in kept])
            if outcome.kept:
                kept.append(outcome)
                kept_per_document[outcome.planned.doc_id] += 1
                writing.advance(1)
            else:
                rejected.append(outcome)
        # a document whose answers ran out before its share passes the rest on to the others
        short = {doc_id: shares[doc_id] - kept_per_document[doc_id] for doc_id in queues
                 if not queues[doc_id] and kept_per_document[doc_id] < shares[doc_id]}
        for doc_id, missing in short.items():
            shares[doc_id] = kept_per_document[doc_id]
            others = {d: len(q) for d, q in queues.items() if q}
            extra = _proportional(missing, {d: len(index.document_text(d)) for d in others}, others)
            for other, add in extra.items():
                shares[other] += add
    if len(kept) < n:
        why = ("the candidate answers ran out" if budget > 0 else
               f"the budget of {CANDIDATE_BUDGET} answers tried per question asked was spent")
        notes.append(f"{len(kept)} of {n} questions kept: {len(rejected)} written questions failed a check "
                     f"(counted by check in the report) and {why}")
    per_document = {doc_id: {"share": first_shares[doc_id], "candidates": candidates[doc_id],
                             "kept": kept_per_document[doc_id]} for doc_id in queues}
    return kept, rejected, notes, per_document


def _write(batch: list[Planned], engine: GenerationEngine, templates: QuestionTemplates, work: WorkLog) -> list[Outcome]:
    """A question for each planned answer, retried (demonstrations rotated) while the output is malformed."""
    outcomes = {id(p): Outcome(p, "", [], {}) for p in batch}
    pending = list(batch)
    for attempt in range(ATTEMPTS):
        if not pending:
            break
        keys = {id(p): f"{p.chunk_id}:{p.span.start}:{p.span.end}:{attempt}" for p in pending}
        todo = [p for p in pending if keys[id(p)] not in work.done]
        if todo:
            prompts = [question_prompt(engine, templates, p, attempt) for p in todo]
            work.record({keys[id(p)]: g.text for p, g in zip(todo, engine.generate(prompts))})
        still = []
        for p in pending:
            outcome = outcomes[id(p)]
            outcome.raw.append(work.done[keys[id(p)]])
            outcome.question = parse_question(outcome.raw[-1])
            if not is_question(outcome.question):
                still.append(p)
        pending = still
    for outcome in outcomes.values():
        span, text = outcome.planned.span, outcome.planned.chunk.text
        outcome.filters = {"is_question": is_question(outcome.question),
                           "answer_in_chunk": text[span.start:span.end] == span.text,
                           "answer_not_in_question": not contains_answer(outcome.question, span.text),
                           "grounded": grounded(outcome.question, text, span.text),
                           "not_copied": not copied(outcome.question, templates)}
    return [outcomes[id(p)] for p in batch]


def _answer_with_chunk(outcomes: list[Outcome], engine: GenerationEngine, templates: PromptTemplates,
                       work: WorkLog, system_prompt: str) -> None:
    """The round trip: the writing model answers each question from its chunk, as RAG would with the
    chunk retrieved (the strategies' `rag` template)."""
    keys = {id(o): f"with-chunk:{o.planned.chunk_id}:{o.question}" for o in outcomes}
    todo = [o for o in outcomes if keys[id(o)] not in work.done]
    if todo:
        prompts = [engine.encode(engine.render(templates.messages(
            "rag", o.question, system_prompt, sources=[(o.planned.doc_id, o.planned.chunk.text)])))
            for o in todo]
        work.record({keys[id(o)]: g.text for o, g in zip(todo, engine.generate(prompts))})
    for outcome in outcomes:
        outcome.with_chunk = parse_question(work.done[keys[id(outcome)]])


def generate(index: Index, output: Path, n: int, seed: int, engine: GenerationEngine, templates: PromptTemplates,
             k: int, system_prompt: str, closed_book: Callable[[list[str]], list[str]] | None = None,
             roundtrip: bool = False, progress: ProgressCallback | None = None
             ) -> tuple[list[GeneratedQuestion], QuestionReport]:
    """Write `n` questions from `index` into `output` (QA records) and `OUTPUT.report.json`; `closed_book`
    answers questions without context (the base model), to record which it already answers; `roundtrip`
    keeps only questions the writing model itself answers with the span when given the chunk."""
    started = time.perf_counter()
    with exclusive(work_file(output).with_suffix(".lock"), busy=lambda pid: QuestionsBusy(
            f"{output} is being written by another process (pid {pid}); wait for it, or choose another --output")):
        key = settings_key(index, n, seed, engine.model_name, templates.questions)
        work = WorkLog(work_file(output), key)
        kept, rejected, notes, per_document = write_questions_for(index, n, seed, engine, templates, work,
                                                                  system_prompt, roundtrip, progress)
        return _finish(output, index, n, seed, engine, k, closed_book, work, kept, rejected, notes, per_document,
                       started)


class QuestionsBusy(WorkbenchError):
    pass


def _finish(output: Path, index: Index, n: int, seed: int, engine: GenerationEngine, k: int,
            closed_book: Callable[[list[str]], list[str]] | None, work: WorkLog, kept: list[Outcome],
            rejected: list[Outcome], notes: list[str], per_document: dict,
            started: float) -> tuple[list[GeneratedQuestion], QuestionReport]:
    """The kept questions with their shares, written with the report; the work log goes."""
    questions = [o.question for o in kept]
    hits = index.search_many(questions, k) if questions else []
    answers = _closed_book(questions, closed_book, work) if closed_book else [None] * len(kept)
    records = []
    for number, (outcome, found, answer) in enumerate(zip(kept, hits, answers), start=1):
        planned = outcome.planned
        records.append(GeneratedQuestion(
            id=f"q{number:04d}", question=outcome.question, answers=[planned.span.text], context=planned.chunk.text,
            doc_id=planned.doc_id, chunk_id=planned.chunk_id, answer_start=planned.span.start,
            answer_end=planned.span.end, answer_kind=planned.span.kind, model=engine.model_name,
            filters=dict(outcome.filters), retrieves_own_chunk=any(hit.chunk_id == planned.chunk_id for hit in found),
            answered_with_chunk=bool(answer_contained(outcome.with_chunk or "", [planned.span.text])),
            answered_closed_book=None if answer is None else bool(answer_contained(answer, [planned.span.text])),
            closed_book_answer=answer))
    summary = _report(n, records, rejected, notes, per_document, index, engine.model_name, seed, k,
                      time.perf_counter() - started)
    write_questions(output, records)
    write_json(report_file(output), asdict(summary))
    work.path.unlink(missing_ok=True)
    return records, summary


def _closed_book(questions: list[str], answer: Callable[[list[str]], list[str]], work: WorkLog) -> list[str]:
    """The base model's answers without context, kept in the work log like the questions."""
    todo = [q for q in questions if f"closed-book:{q}" not in work.done]
    if todo:
        work.record({f"closed-book:{q}": a for q, a in zip(todo, answer(todo))})
    return [work.done[f"closed-book:{q}"] for q in questions]


def _report(requested: int, kept: list[GeneratedQuestion], rejected: list[Outcome], notes: list[str],
            per_document: dict, index: Index, model: str, seed: int, k: int, seconds: float) -> QuestionReport:
    checked = [r.filters for r in kept] + [o.filters for o in rejected]
    counts = {name: {"passed": sum(1 for f in checked if f.get(name) is True),
                     "failed": sum(1 for f in checked if f.get(name) is False)}
              for name in FILTERS if any(name in f for f in checked)}

    def share(values: list[bool | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known) / len(known), 3) if known else None

    return QuestionReport(
        requested=requested, kept=len(kept), model=model, seed=seed, documents=len(per_document),
        chunks=len(index.chunks()), filters=counts,
        malformed_after_retries=sum(1 for o in rejected if not o.filters["is_question"]), shortfall=notes,
        per_document=per_document,
        shares={"retrieves_own_chunk": share([r.retrieves_own_chunk for r in kept]),
                "answered_with_chunk": share([r.answered_with_chunk for r in kept]),
                "answered_closed_book": share([r.answered_closed_book for r in kept])},
        rejected=[{"doc_id": o.planned.doc_id, "chunk_id": o.planned.chunk_id, "answer": o.planned.span.text,
                   "question": o.question, "outputs": o.raw, "failed": o.reasons()} for o in rejected],
        seconds=round(seconds, 1), questions_per_minute=round(60 * len(kept) / seconds, 2) if seconds else 0.0, k=k,
        answer_kinds={kind: sum(1 for r in kept if r.answer_kind == kind) for kind in sorted({r.answer_kind for r in kept})})


def report_file(output: Path) -> Path:
    return output.with_name(output.name + ".report.json")


def work_file(output: Path) -> Path:
    return output.with_name(f".{output.name}.work.jsonl")


def _json_or_none(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def paraphrase(pairs: Sequence[QAPair], n: int, engine: GenerationEngine, templates: QuestionTemplates,
               progress: ProgressCallback | None = None) -> tuple[list[QAPair], dict[str, int]]:
    """Up to `n` rewordings of each pair's question, as new pairs with the same answers (ids `ID~pN`);
    each attempt shows the demonstrations in another order. A rewording that is no question, holds the
    answer or repeats one already kept is counted, not kept."""
    written: list[QAPair] = []
    seen = {pair.id: {normalize_answer(pair.question)} for pair in pairs}
    failed = 0
    stage = start_stage(progress, "paraphrasing", n * len(pairs))
    for attempt in range(n):
        prompts = [paraphrase_prompt(engine, templates, pair.question, attempt) for pair in pairs]
        for pair, generation in zip(pairs, engine.generate(prompts)):
            question = parse_question(generation.text)
            key = normalize_answer(question)
            if is_question(question) and not contains_answer(question, pair.answers[0]) and key not in seen[pair.id]:
                seen[pair.id].add(key)
                written.append(dataclasses.replace(pair, id=f"{pair.id}~p{attempt + 1}", question=question))
            else:
                failed += 1
        stage.advance(len(pairs))
    return written, {"asked": n * len(pairs), "written": len(written), "failed": failed}


def generate_for(config: Config, request: QuestionsRequest, models: ModelPool | None = None,
                 progress: ProgressCallback | None = None) -> tuple[list[GeneratedQuestion], QuestionReport]:
    """`generate` as the config and the request say: the writing model from the pool, the base model's
    closed-book answers recorded when `request.closed_book`."""
    from workbench.generation import GenerationSettings, load_prompts
    from workbench.indexing import open_index
    from workbench.models.pool import ModelPool
    from workbench.strategies import StrategyFactory, StrategyOptions

    request.check()
    pool = models or ModelPool.default(config.models.memory_mb)
    index = open_index(request.index, config.index.root)
    settings = GenerationSettings(max_new_tokens=48, batch_size=config.generation.batch_size, first_line_only=True)
    engine = GenerationEngine(pool.generator(request.model or config.models.generator, config.models.device), settings)
    closed_book = None
    if request.closed_book:
        zero_shot = StrategyFactory(config, StrategyOptions(), None, pool).build("zero-shot")[0]

        def closed_book(questions: list) -> list[str]:
            return [answer.text for answer in zero_shot.answer_many(questions)]

    seed = config.training.seed if request.seed is None else request.seed
    return generate(index, request.output, request.n, seed, engine, load_prompts(), config.retrieval.k,
                    config.generation.system_prompt, closed_book, request.roundtrip, progress)
