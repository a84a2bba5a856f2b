"""The record types every track shares: documents, QA pairs, instructions, labelled texts, preferences."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A unit of text to index. `id` is stable across rebuilds (relative path or record id)."""

    id: str
    text: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QAPair:
    """A question with its acceptable answers; `context` and `doc_id` tie it to its source paragraph."""

    id: str
    question: str
    answers: tuple[str, ...]
    context: str | None = None
    doc_id: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class InstructionExample:
    """Alpaca style: an instruction, an optional input, the expected output."""

    instruction: str
    input: str
    output: str

    @property
    def prompt(self) -> str:
        """What the model is asked: the instruction, then its input after a blank line."""
        return f"{self.instruction}\n\n{self.input}" if self.input.strip() else self.instruction


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: str


@dataclass(frozen=True)
class PreferenceExample:
    """A prompt with a preferred (`chosen`) and a dispreferred (`rejected`) response, for DPO."""

    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class Corpus:
    """One corpus for every track: documents to index, QA pairs to answer, topic labels to classify."""

    name: str
    documents: list[Document]
    qa_pairs: list[QAPair]

    def labeled_documents(self) -> list[LabeledText]:
        """Each document's text labelled with its topic (the SQuAD article title)."""
        return [LabeledText(d.text, d.metadata["title"]) for d in self.documents if "title" in d.metadata]

    def topics(self) -> list[str]:
        return sorted({d.metadata["title"] for d in self.documents if "title" in d.metadata})
