"""Build strategies by name from the config and per-run options; the CLI, the evaluation and the UI
all come through here. Shared resources (the engine, the index, the demonstration pool, adapters) are
opened once per factory, and only when a requested strategy needs them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.config import Config
from workbench.corpus import QAPair, load_demo_corpus, load_qa
from workbench.errors import WorkbenchError
from workbench.generation import GenerationEngine, LoadedAdapter, load_prompts, parse_adapter_spec, place_adapter
from workbench.models import load_generator
from workbench.models.registry import built_on_run, full_finetuning_model
from workbench.progress import ProgressCallback
from workbench.strategies.answer import Answer
from workbench.strategies.base import Question, Strategy, ZeroShot
from workbench.strategies.few_shot import FewShot
from workbench.strategies.finetuned import Finetuned, RagFinetuned
from workbench.strategies.rag import Rag
from workbench.strategies.side_by_side import answer_together

STRATEGY_NAMES: tuple[str, ...] = ("zero-shot", "few-shot", "rag", "finetuned", "rag+finetuned")


@dataclass(frozen=True)
class StrategyOptions:
    """What a request names that is not a setting: which index, adapters and files. Settings (k, shots,
    generator, answer length) come from the config (`config.updated(...)` changes one for a request)."""

    index: str | None = None
    adapters: tuple[str, ...] = ()  # PATH or NAME=PATH each (adapter or run folder); finetuned strategies run once per adapter
    demonstrations: str | Path | None = None  # QA file for the few-shot pool (default: see StrategyFactory)
    prompts: str | Path | None = None  # a templates file merged over configs/prompts.yaml
    whole_replies: bool = False  # generate past the first line even when the clean-up keeps only it (summaries)


@dataclass(frozen=True)
class FinetunedGenerator:
    """What a finetuned strategy answers with: an adapter on the shared base model's engine (or on an
    engine over an extra copy of it, for adapters peft cannot load beside the others), or the model of
    a full-finetuning run on an engine of its own (adapter None)."""

    name: str
    engine: GenerationEngine | None
    adapter: LoadedAdapter | None = None
    error: WorkbenchError | None = None  # it could not be loaded: its strategies answer with this error


class Unavailable(Strategy):
    """A finetuned strategy whose adapter could not be loaded: it fails with that error when asked, so
    side-by-side views show it in its own column while the other adapters still answer."""

    def __init__(self, name: str, variant: str, error: WorkbenchError):
        self.name, self.variant, self.adapter, self.error = name, variant, None, error

    def prompted(self, questions):
        raise self.error


@dataclass(frozen=True)
class StrategyOutcome:
    """One strategy's answers to a list of questions, in order, or why it could not give them."""

    label: str
    answers: tuple[Answer, ...] = ()
    error: Exception | None = None


def parse_strategy_names(spec: str | Sequence[str]) -> list[str]:
    """`all`, one name, or a comma-separated list → known names, in the given order."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return list(STRATEGY_NAMES)
    unknown = [n for n in names if n not in STRATEGY_NAMES]
    if unknown or not names:
        raise WorkbenchError(f"unknown strategy {', '.join(unknown) or '(none)'}: use all or "
                             f"a comma-separated list of {', '.join(STRATEGY_NAMES)}")
    return names


class StrategyFactory:
    """`default_pool`: the few-shot pool when no demonstrations file is given (evaluation passes the
    QA pairs it does not evaluate); without it, the bundled demo corpus's QA pairs."""

    def __init__(self, config: Config, options: StrategyOptions = StrategyOptions(),
                 default_pool: Sequence[QAPair] | None = None):
        self.config, self.options = config, options
        self.templates = load_prompts(options.prompts)
        first_line_only = self.templates.postprocess.first_line and not options.whole_replies
        self.engine = GenerationEngine.from_config(config, first_line_only=first_line_only)
        self._default_pool = default_pool

    def build(self, name: str) -> list[Strategy]:
        """The strategy `name`; the finetuned ones once per adapter."""
        common = {"engine": self.engine, "templates": self.templates,
                  "system_prompt": self.config.generation.system_prompt}
        k = self.config.retrieval.k
        if name == "zero-shot":
            return [ZeroShot(**common)]
        if name == "few-shot":
            return [FewShot(**common, pool=self._pool, k=self.config.strategies.shots,
                            selection=self.config.strategies.shot_selection,
                            seed=self.config.training.seed, embedder=self.config.models.embedder)]
        if name == "rag":
            return [Rag(**common, index=self._index, k=k)]
        if name not in ("finetuned", "rag+finetuned"):
            raise WorkbenchError(f"unknown strategy '{name}' (known: {', '.join(STRATEGY_NAMES)})")
        make = Finetuned if name == "finetuned" else functools.partial(RagFinetuned, index=self._index, k=k)
        if not self._finetuned:  # without --adapter, the strategy itself explains that it needs one
            return [make(**common)]
        return [Unavailable(name, t.name, t.error) if t.error is not None else
                make(**{**common, "engine": t.engine, "adapter": t.adapter, "variant": t.name})
                for t in self._finetuned]

    def build_many(self, names: Sequence[str]) -> list[Strategy]:
        return [strategy for name in names for strategy in self.build(name)]

    def answer_each(self, names: Sequence[str], questions: Sequence[Question],
                    progress: ProgressCallback | None = None) -> list[StrategyOutcome]:
        """Every strategy in `names` answers every question, the strategies that can share a batch in
        one generation (see side_by_side). A strategy that cannot be built or fails, for whatever
        reason, reports its error in its own outcome and the others still answer: side-by-side views
        (`wb ask --strategy all`, the demo, the UI) show one column per outcome."""
        built = self.build_each(names)
        strategies = [strategy for _, strategy in built if not isinstance(strategy, Exception)]
        answered = iter(answer_together(strategies, questions, progress))
        outcomes = []
        for label, strategy in built:
            result = strategy if isinstance(strategy, Exception) else next(answered)
            outcomes.append(StrategyOutcome(label, error=result) if isinstance(result, Exception)
                            else StrategyOutcome(label, tuple(result)))
        return outcomes

    def build_each(self, names: Sequence[str]) -> list[tuple[str, Strategy | Exception]]:
        """(label, strategy) for every strategy in `names`, the finetuned ones once per adapter; one that
        cannot be built gives (its name, the error) instead, so that a side-by-side view keeps its column
        (the UI streams each strategy's answer into its column)."""
        built: list[tuple[str, Strategy | Exception]] = []
        for name in names:
            try:
                built += [(strategy.label, strategy) for strategy in self.build(name)]
            except Exception as exc:  # noqa: BLE001 - one broken strategy must not hide the others
                built.append((name, exc))
        return built

    @functools.cached_property
    def _index(self):
        if not self.options.index:
            raise WorkbenchError("retrieval strategies need an index: pass --index NAME "
                                 "(build one with `wb index build`)")
        from workbench.indexing import open_index

        return open_index(self.options.index, root=self.config.index.root)

    @functools.cached_property
    def _pool(self) -> list[QAPair]:
        if self.options.demonstrations is not None:
            return load_qa(self.options.demonstrations)
        if self._default_pool is not None:
            return list(self._default_pool)
        return load_demo_corpus().qa_pairs

    @functools.cached_property
    def _finetuned(self) -> list[FinetunedGenerator]:
        finetuned = []
        for name, path in map(parse_adapter_spec, self.options.adapters):
            try:
                if full_finetuning_model(path) is not None:
                    model = load_generator(path, self.config.models.device)
                    finetuned.append(FinetunedGenerator(name, GenerationEngine(model, self.engine.settings)))
                    continue
                if built_on_run(path) is not None:  # an adapter on another run's merged weights: its own model
                    from workbench.training.generator import load_trained_generator

                    generator = load_trained_generator(Path(path), self.config.models.device)
                    finetuned.append(FinetunedGenerator(name, GenerationEngine(generator, self.engine.settings)))
                    continue
                generator, adapter = place_adapter(self.engine.generator, path, name,
                                                   self.config.models.extra_copies_mb)
            except WorkbenchError as exc:  # this adapter's columns show why; the others still answer
                finetuned.append(FinetunedGenerator(name, None, error=exc))
                continue
            engine = (self.engine if generator is self.engine.generator
                      else GenerationEngine(generator, self.engine.settings))
            finetuned.append(FinetunedGenerator(name, engine, adapter))
        return finetuned
