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
from workbench.errors import Failure, WorkbenchError
from workbench.generation import GenerationEngine, LoadedAdapter, load_prompts, parse_adapter_spec, place_adapter
from workbench.generation.remote import RemoteEngine, served_as_lora
from workbench.models.pool import ModelPool
from workbench.models.registry import built_on_run, full_finetuning_model
from workbench.progress import ProgressCallback
from workbench.requests import StrategyOptions
from workbench.strategies.answer import Answer
from workbench.strategies.base import Question, Strategy, ZeroShot
from workbench.strategies.few_shot import FewShot
from workbench.strategies.finetuned import Finetuned, RagFinetuned
from workbench.strategies.rag import Rag
from workbench.strategies.side_by_side import answer_together

# The registry: a strategy is a `Strategy` subclass (its traits and `from_factory` say what it needs), listed here.
STRATEGIES: dict[str, type[Strategy]] = {kind.name: kind for kind in (ZeroShot, FewShot, Rag, Finetuned, RagFinetuned)}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)


@dataclass(frozen=True)
class FinetunedGenerator:
    """What a finetuned strategy answers with: an adapter on the shared base model's engine (or on an
    engine over an extra copy of it, for adapters peft cannot load beside the others), or the model of
    a full-finetuning run on an engine of its own (adapter None)."""

    name: str
    engine: GenerationEngine | None
    adapter: LoadedAdapter | None = None
    error: WorkbenchError | None = None  # it could not be loaded: its strategies answer with this error


@dataclass(frozen=True)
class StrategyOutcome:
    """One strategy's answers to a list of questions, in order, or why it could not give them."""

    label: str
    answers: tuple[Answer, ...] = ()
    error: Failure | None = None


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
    QA pairs it does not evaluate); without it, the bundled demo corpus's QA pairs. `models`: where the
    generators come from (a session's pool; default: the process's)."""

    def __init__(self, config: Config, options: StrategyOptions | None = None,
                 default_pool: Sequence[QAPair] | None = None, models: ModelPool | None = None):
        self.config, self.options = config, options or StrategyOptions()
        self.models = models or ModelPool.default()
        self.templates = load_prompts(options.prompts)
        self._first_line_only = self.templates.postprocess.first_line and not options.whole_replies
        self.engine = (RemoteEngine.for_model(config, first_line_only=self._first_line_only)
                       if config.generation.backend == "openai" else self._local_engine)
        self._default_pool = default_pool

    def build(self, name: str) -> list[Strategy]:
        """The strategy `name`; the finetuned ones once per adapter. An adapter that cannot be loaded
        raises its error (`build_each` gives it a column of its own instead)."""
        built = []
        for _, strategy in self._build(name):
            if isinstance(strategy, Exception):
                raise strategy
            built.append(strategy)
        return built

    def _build(self, name: str) -> list[tuple[str, Strategy | WorkbenchError]]:
        """(label, strategy) for `name`, the finetuned ones once per adapter; (label, error) for an adapter
        that could not be loaded."""
        if name not in STRATEGIES:
            raise WorkbenchError(f"unknown strategy '{name}' (known: {', '.join(STRATEGY_NAMES)})")
        kind = STRATEGIES[name]
        common = {"engine": self.engine, "templates": self.templates,
                  "system_prompt": self.config.generation.system_prompt}
        if not kind.finetuned or not self._finetuned:  # without --adapter, a finetuned strategy explains that it needs one
            return [(name, kind.from_factory(self, **common))]
        built: list[tuple[str, Strategy | WorkbenchError]] = []
        for trained in self._finetuned:
            if trained.error is not None:
                built.append((f"{name}[{trained.name}]", trained.error))
            else:
                strategy = kind.from_factory(self, **{**common, "engine": trained.engine, "adapter": trained.adapter,
                                                      "variant": trained.name})
                built.append((strategy.label, strategy))
        return built

    def build_many(self, names: Sequence[str]) -> list[Strategy]:
        return [strategy for name in names for strategy in self.build(name)]

    def answer_each(self, names: Sequence[str], questions: Sequence[Question],
                    progress: ProgressCallback | None = None) -> list[StrategyOutcome]:
        """Every strategy in `names` answers every question, the strategies that can share a batch in
        one generation (see side_by_side). A strategy that cannot be built or fails, for whatever
        reason, reports its `Failure` in its own outcome and the others still answer: side-by-side views
        (`wb ask --strategy all`, the demo, the UI) show one column per outcome."""
        built = self.build_each(names)
        strategies = [strategy for _, strategy in built if not isinstance(strategy, Failure)]
        answered = iter(answer_together(strategies, questions, progress))
        outcomes = []
        for label, strategy in built:
            result = strategy if isinstance(strategy, Failure) else next(answered)
            if isinstance(result, Exception):
                result = Failure.of(result)
            outcomes.append(StrategyOutcome(label, error=result) if isinstance(result, Failure)
                            else StrategyOutcome(label, tuple(result)))
        return outcomes

    def build_each(self, names: Sequence[str]) -> list[tuple[str, Strategy | Failure]]:
        """(label, strategy) for every strategy in `names`, the finetuned ones once per adapter; one that
        cannot be built gives (its label, its `Failure`) instead, so that a side-by-side view keeps its
        column (the UI streams each strategy's answer into its column)."""
        built: list[tuple[str, Strategy | Failure]] = []
        for name in names:
            try:
                built += [(label, Failure.of(s) if isinstance(s, Exception) else s) for label, s in self._build(name)]
            except Exception as exc:  # noqa: BLE001 - one broken strategy must not hide the others
                built.append((name, Failure.of(exc)))
        return built

    @functools.cached_property
    def _local_engine(self) -> GenerationEngine:
        """This process's engine: the base-model strategies' unless generation.backend is openai, and that
        of the finetuned runs an OpenAI-compatible server cannot answer (all but LoRA)."""
        return GenerationEngine.from_config(self.config, first_line_only=self._first_line_only, pool=self.models)

    @functools.cached_property
    def index(self):
        """The index the retrieval strategies search (opened once per factory)."""
        if not self.options.index:
            raise WorkbenchError("retrieval strategies need an index: pass --index NAME "
                                 "(build one with `wb index build`)")
        from workbench.indexing import open_index

        return open_index(self.options.index, root=self.config.index.root)

    @functools.cached_property
    def demonstration_pool(self) -> list[QAPair]:
        """Few-shot demonstrations: the --demonstrations file, else the default pool, else the demo corpus's."""
        if self.options.demonstrations is not None:
            return load_qa(self.options.demonstrations)
        if self._default_pool is not None:
            return list(self._default_pool)
        return load_demo_corpus().qa_pairs

    @functools.cached_property
    def _finetuned(self) -> list[FinetunedGenerator]:
        finetuned = []
        local = None if self.config.generation.backend == "openai" else self.engine
        for name, path in map(parse_adapter_spec, self.options.adapters):
            try:
                if local is None and served_as_lora(path) and built_on_run(path) is None:  # vLLM: --lora-modules NAME=PATH
                    served = self.config.generation.openai.adapters.get(name, name)
                    finetuned.append(FinetunedGenerator(name, RemoteEngine.for_model(self.config, served,
                                                                                      self._first_line_only)))
                    continue
                local = local or self._local_engine
                if full_finetuning_model(path) is not None:
                    model = self.models.generator(path, self.config.models.device)
                    finetuned.append(FinetunedGenerator(name, GenerationEngine(model, local.settings)))
                    continue
                if built_on_run(path) is not None:  # an adapter on another run's merged weights: its own model
                    from workbench.training.generator import load_trained_generator

                    device = self.config.models.device
                    generator = self.models.get(("trained", str(Path(path).resolve()), device),
                                                lambda path=path, device=device: load_trained_generator(Path(path), device))
                    finetuned.append(FinetunedGenerator(name, GenerationEngine(generator, local.settings)))
                    continue
                generator, adapter = place_adapter(local.generator, path, name,
                                                   self.config.models.extra_copies_mb, self.models)
            except WorkbenchError as exc:  # this adapter's columns show why; the others still answer
                finetuned.append(FinetunedGenerator(name, None, error=exc))
                continue
            engine = local if generator is local.generator else GenerationEngine(generator, local.settings)
            finetuned.append(FinetunedGenerator(name, engine, adapter))
        return finetuned
