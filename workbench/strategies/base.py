"""The Strategy interface: `answer`, `answer_many` (batched, for evaluation) and `stream`; `prompted` and
`finish`, the halves around generation, let several strategies generate in one batch (side_by_side).

A strategy differs from another only in what it gathers before prompting (demonstrations, retrieved
sources, nothing), which template it fills and which adapter it generates with; the prompting,
the context budget, generation and clean-up are shared here so nothing re-implements them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

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


class Prompted(NamedTuple):
    """A question ready to generate: what the strategy gathered for it and the prompt that fits."""

    pair: QAPair
    context: Context
    prompt: FittedPrompt


def as_pair(question: Question) -> QAPair:
    pair = question if isinstance(question, QAPair) else QAPair(id="", question=question, answers=())
    if not isinstance(pair.question, str) or not pair.question.strip():
        raise EmptyQuestion("the question is empty: ask something, e.g. wb ask \"Who founded the university?\"")
    return pair


class Strategy:
    """The shared pipeline. A subclass sets `name` (also its template in prompts.yaml) and overrides
    `_gather` when it puts something in front of the question."""

    name: ClassVar[str]
    retrieves: ClassVar[bool] = False  # needs an index (StrategyOptions.index)
    finetuned: ClassVar[bool] = False  # answers once per adapter or trained run (StrategyOptions.adapters)

    @classmethod
    def from_factory(cls, factory: Any, **common: Any) -> Strategy:
        """This strategy over the factory's shared resources (`common`: engine, templates, system prompt,
        and for a finetuned one its adapter); subclasses that need more take it from the factory."""
        return cls(**common)

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
        prompted = self.prompted(questions)
        if not prompted:
            return []
        generations = self.engine.generate([p.prompt.token_ids for p in prompted], adapter=self.adapter_key,
                                           progress=progress)
        return [self.finish(p, generation) for p, generation in zip(prompted, generations)]

    def prompted(self, questions: Sequence[Question]) -> list[Prompted]:
        """Each question with what this strategy gathers for it and the prompt that fits the window:
        ready for `engine.generate` (with `adapter_key`), then `finish`."""
        pairs = [as_pair(q) for q in questions]
        if not pairs:
            return []
        return [Prompted(pair, context, self._fit(pair, context)) for pair, context in zip(pairs, self._gather(pairs))]

    def choose_many(self, questions: Sequence[Question], choices: Sequence[str],
                    progress: ProgressCallback | None = None) -> list[Answer]:
        """For each question, the choice the model finds most likely after this strategy's prompt
        (classification constrained to the label set by likelihood, never by parsing free text).
        Each choice is scored as the model's prompt format writes a complete reply (the end-of-turn
        token after it; after a space in a base model's completion format)."""
        prompted = self.prompted(questions)
        if not prompted:
            return []
        continuations = [self.engine.reply_ids(choice) for choice in choices]
        scoring = start_stage(progress, "scoring", len(prompted))
        answers = []
        for item in prompted:
            started = time.perf_counter()
            scores = self.engine.continuation_logprobs(item.prompt.token_ids, continuations, self.adapter_key)
            best = max(range(len(choices)), key=scores.__getitem__)
            generation = Generation(choices[best], len(item.prompt.token_ids), 0, time.perf_counter() - started)
            answers.append(dataclasses.replace(self.finish(item, generation), text=choices[best], postprocessing=(),
                                               choices=dict(zip(choices, scores))))
            scoring.advance(1)
        return answers

    def stream(self, question: Question) -> Iterator[str | Answer]:
        """Yield the raw answer text piece by piece, then the finished (post-processed) Answer."""
        [item] = self.prompted([question])
        for piece in self.engine.stream(item.prompt.token_ids, adapter=self.adapter_key):
            yield self.finish(item, piece) if isinstance(piece, Generation) else piece

    @property
    def adapter_key(self) -> str | None:
        """What the engine calls this strategy's adapter (None: the base model)."""
        return self.adapter.key if self.adapter else None

    def _gather(self, pairs: list[QAPair]) -> list[Context]:
        return [Context() for _ in pairs]

    def _fit(self, pair: QAPair, context: Context) -> FittedPrompt:
        demos = [(d.question, d.answer) for d in context.demonstrations]
        sources = [(s.doc_id, s.text) for s in context.sources]
        return self.engine.fit(
            lambda n_demos, n_sources: self.templates.messages(
                self.name, pair.question, self.system_prompt, demos[:n_demos], sources[:n_sources]),
            n_demonstrations=len(demos), n_sources=len(sources),
        )

    def finish(self, prompted: Prompted, generation: Generation) -> Answer:
        """The answer record of a generation for a `prompted` question: cleaned, with its evidence."""
        pair, context, prompt = prompted
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
            adapter=self.adapter.name if self.adapter else None,
            adapter_path=str(self.adapter.path) if self.adapter else None,
            finish_reason=generation.finish_reason,
            engine=self.engine.engine_name,
        )


class ZeroShot(Strategy):
    """The question alone, after the system prompt."""

    name = "zero-shot"
