"""The file `wb questions generate` writes and `wb questions review` reads: QA records (`question`,
`answers`, `context`, `doc_id`, `id`, as every QA loader reads them) with where each answer sits in its
chunk, which model wrote the question, each filter's verdict and the shares recorded beside them.

One schema, so that a file edited by hand into an invalid state is one message naming the line and the
field, and so that no kept answer can stop occurring verbatim in its chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.corpus import DatasetError
from workbench.ondisk import SchemaViolation, read_file, write_jsonl

FILTERS = ("is_question", "answer_in_chunk", "answer_not_in_question", "grounded", "not_copied", "answered_with_chunk",
           "not_duplicate")  # answered_with_chunk: only with the round trip asked for (recorded either way)
Review = Literal["accepted", "edited", "rejected"]


class GeneratedQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)
    context: str = Field(min_length=1)  # the chunk the answer was picked from
    doc_id: str
    chunk_id: int = Field(ge=0)
    answer_start: int = Field(ge=0)  # answers[0] == context[answer_start:answer_end]
    answer_end: int = Field(gt=0)
    answer_kind: str
    model: str  # the generator that wrote the question
    filters: dict[str, bool]
    retrieves_own_chunk: bool | None = None  # its chunk among the index's top-k for the question
    answered_with_chunk: bool | None = None  # the writing model answers it with the answer, given the chunk
    answered_closed_book: bool | None = None  # the base model answers it without context (answer contained)
    closed_book_answer: str | None = None
    review: Review | None = None  # set by a review; None: not reviewed
    original: dict[str, str] | None = None  # an edited item's question and answer as generated

    @model_validator(mode="after")
    def _answer_in_chunk(self) -> GeneratedQuestion:
        if any(not answer.strip() for answer in self.answers):
            raise ValueError("answers: an answer is empty")
        if self.context[self.answer_start:self.answer_end] != self.answers[0]:
            raise ValueError(f"answers: '{self.answers[0]}' is not at characters {self.answer_start}-{self.answer_end} "
                             "of its context (every kept answer occurs verbatim in its chunk)")
        return self


def read_questions(path: Path) -> list[GeneratedQuestion]:
    """A generated (or reviewed) questions file; a damaged or hand-broken one is a `DatasetError` naming
    the line and the field."""
    try:
        items = read_file(path, GeneratedQuestion, jsonl=True)
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except SchemaViolation as exc:
        raise DatasetError(path, f"not a questions file as `wb questions generate` writes it: {exc}") from None
    if not items:
        raise DatasetError(path, "no questions in the file")
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        if item.id in seen:
            raise DatasetError(path, f"id '{item.id}' appears twice", f"item {number}")
        seen.add(item.id)
    return items


def write_questions(path: Path, items: list[GeneratedQuestion]) -> None:
    write_jsonl(path, [item.model_dump(mode="json", exclude_none=True) for item in items])
