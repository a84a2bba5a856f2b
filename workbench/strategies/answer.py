"""The one record every strategy returns: what was answered, from what prompt, with what evidence,
at what cost. The CLI, the evaluation and the UI read only this."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A retrieved chunk placed in the prompt as `[number]`."""

    number: int
    chunk_id: int
    doc_id: str
    score: float
    text: str
    start: int  # character span of the chunk in its document
    end: int


@dataclass(frozen=True)
class Demonstration:
    """A solved QA pair shown before the question (few-shot)."""

    id: str
    question: str
    answer: str
    score: float | None = None  # similarity to the question when chosen by similarity


@dataclass(frozen=True)
class Answer:
    strategy: str
    question: str
    text: str  # after post-processing: what is shown and scored
    raw_text: str  # what the model generated
    postprocessing: tuple[str, ...]  # the clean-up steps that changed raw_text into text
    citations: tuple[int, ...]  # source numbers the raw answer cited as [n]
    prompt: str  # exactly what the model saw, chat template included
    sources: tuple[Source, ...]
    demonstrations: tuple[Demonstration, ...]
    dropped_sources: tuple[Source, ...]  # retrieved but left out to fit the context window
    dropped_demonstrations: tuple[Demonstration, ...]
    tokens_in: int
    tokens_out: int
    retrieval_seconds: float
    generation_seconds: float
    model: str
    adapter: str | None = None
    adapter_path: str | None = None
    choices: dict[str, float] | None = None  # closed-set answers: each choice's log-probability (text: the best)
    finish_reason: str = "stop"  # "stop" (end of turn, a stop string, first line) or "length" (max_new_tokens reached)
    engine: str = "local"  # which engine answered: local, or openai:URL (generation.backend)

    @property
    def seconds(self) -> float:
        return self.retrieval_seconds + self.generation_seconds

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
