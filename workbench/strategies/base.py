"""The Strategy interface: `answer`, `answer_many` (batched, for evaluation) and `stream` (for the UI).

A strategy differs from another only in what it gathers before prompting (demonstrations, retrieved
sources, nothing), which template it fills and which adapter it generates with; the prompting,
the context budget, generation and clean-up are shared here so nothing re-implements them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from workbench.corpus import QAPair
from workbench.errors import WorkbenchError
from workbench.generation import (
    FittedPrompt,
    Generation,
    GenerationEngine,
    LoadedAdapter,
    PromptTemplates,
    clean_answer,
)
from workbench.progress import ProgressCallback, start_stage
from workbench.strategies.answer import Answer, Demonstration, Source

Question = str | QAPair  # a QAPair lets few-shot exclude the evaluated pair by id


class EmptyQuestion(WorkbenchError):
    pass


@dataclass(frozen=True)
class Context:
    """What a strategy puts in front of the question, best-ranked first."""

    demonstrations: tuple[Demonstration, ...] = ()
    sources: tuple[Source, ...] = ()
    retrieval_seconds: float = 0.0


def as_pair(question: Question) -> QAPair:
    pair = question if isinstance(question, QAPair) else QAPair(id="", question=question, answers=())
    if not isinstance(pair.question, str) or not pair.question.strip():
        raise EmptyQuestion("the question is empty: ask something, e.g. wb ask \"Who founded the university?\"")
    return pair


class Strategy:
    """The shared pipeline. A subclass sets `name` (also its template in prompts.yaml) and overrides
    `_gather` when it puts something in front of the question."""

    name: ClassVar[str]

    def __init__(self, engine: GenerationEngine, templates: PromptTemplates, system_prompt: str,
                 adapter: LoadedAdapter | None = None, variant: str | None = None):
        """`adapter`: generate with this adapter of the engine's model switched on. `variant`: what
        tells this strategy apart from others of its name (default: the adapter's name)."""
        self.engine = engine
        self.templates = templates
        self.system_prompt = system_prompt
        self.adapter = adapter
        self.variant = variant or (adapter.name if adapter else None)

    @property
    def label(self) -> str:
        """The name shown in tables: several finetuned strategies differ by their adapter or model."""
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def answer(self, question: Question) -> Answer:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[Question], progress: ProgressCallback | None = None) -> list[Answer]:
        """Answers in order; generation is batched (engine batch_size), retrieval done in one call."""
        pairs = [as_pair(q) for q in questions]
        if not pairs:
            return []
        contexts = self._gather(pairs)
        prompts = [self._fit(pair, context) for pair, context in zip(pairs, contexts)]
        generations = self.engine.generate([p.token_ids for p in prompts], adapter=self._adapter_key,
                                           progress=progress)
        return [self._answer(*parts) for parts in zip(pairs, contexts, prompts, generations)]

    def choose_many(self, questions: Sequence[Question], choices: Sequence[str],
                    progress: ProgressCallback | None = None) -> list[Answer]:
        """For each question, the choice the model finds most likely after this strategy's prompt
        (classification constrained to the label set by likelihood, never by parsing free text).
        Each choice is scored with the end-of-turn token after it, as a complete answer."""
        pairs = [as_pair(q) for q in questions]
        if not pairs:
            return []
        end = [self.engine.tokenizer.eos_token_id]
        continuations = [self.engine.encode(choice) + end for choice in choices]
        contexts = self._gather(pairs)
        scoring = start_stage(progress, "scoring", len(pairs))
        answers = []
        for pair, context in zip(pairs, contexts):
            prompt = self._fit(pair, context)
            started = time.perf_counter()
            scores = self.engine.continuation_logprobs(prompt.token_ids, continuations, self._adapter_key)
            best = max(range(len(choices)), key=scores.__getitem__)
            generation = Generation(choices[best], len(prompt.token_ids), 0, time.perf_counter() - started)
            answer = self._answer(pair, context, prompt, generation)
            answers.append(dataclasses.replace(answer, text=choices[best], postprocessing=(),
                                               choices=dict(zip(choices, scores))))
            scoring.advance(1)
        return answers

    def stream(self, question: Question) -> Iterator[str | Answer]:
        """Yield the raw answer text piece by piece, then the finished (post-processed) Answer."""
        pair = as_pair(question)
        context = self._gather([pair])[0]
        prompt = self._fit(pair, context)
        for item in self.engine.stream(prompt.token_ids, adapter=self._adapter_key):
            yield self._answer(pair, context, prompt, item) if isinstance(item, Generation) else item

    def _gather(self, pairs: list[QAPair]) -> list[Context]:
        return [Context() for _ in pairs]

    @property
    def _adapter_name(self) -> str | None:
        return self.adapter.name if self.adapter else None

    @property
    def _adapter_key(self) -> str | None:
        return self.adapter.key if self.adapter else None

    def _fit(self, pair: QAPair, context: Context) -> FittedPrompt:
        demos = [(d.question, d.answer) for d in context.demonstrations]
        sources = [(s.doc_id, s.text) for s in context.sources]
        return self.engine.fit(
            lambda n_demos, n_sources: self.templates.messages(
                self.name, pair.question, self.system_prompt, demos[:n_demos], sources[:n_sources]),
            n_demonstrations=len(demos), n_sources=len(sources),
        )

    def _answer(self, pair: QAPair, context: Context, prompt: FittedPrompt, generation: Generation) -> Answer:
        cleaned = clean_answer(generation.text, pair.question, self.templates.postprocess)
        return Answer(
            strategy=self.label,
            question=pair.question,
            text=cleaned.text,
            raw_text=generation.text,
            postprocessing=cleaned.steps,
            citations=cleaned.citations,
            prompt=prompt.text,
            sources=context.sources[:prompt.n_sources],
            demonstrations=context.demonstrations[:prompt.n_demonstrations],
            dropped_sources=context.sources[prompt.n_sources:],
            dropped_demonstrations=context.demonstrations[prompt.n_demonstrations:],
            tokens_in=generation.tokens_in,
            tokens_out=generation.tokens_out,
            retrieval_seconds=context.retrieval_seconds,
            generation_seconds=generation.seconds,
            model=self.engine.model_name,
            adapter=self._adapter_name,
            adapter_path=str(self.adapter.path) if self.adapter else None,
        )


class ZeroShot(Strategy):
    """The question alone, after the system prompt."""

    name = "zero-shot"
