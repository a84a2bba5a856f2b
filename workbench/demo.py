"""The demo: the embedded models on the bundled corpus, every strategy side by side.

`run_demo` does, in order, what a new user would do by hand: prepare the models, build the `demo`
index over the bundled SQuAD articles, finetune a small LoRA adapter on the demo QA pairs, and ask a
few held-out questions of every strategy. The index and the adapter are built once and reused; a
demo interrupted while training resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.config import Config
from workbench.corpus import QAPair, load_demo_corpus
from workbench.indexing import Index
from workbench.models.pool import ModelPool
from workbench.progress import ProgressCallback
from workbench.runfolder import RunBusy, RunDir, RunError
from workbench.strategies import STRATEGY_NAMES, StrategyFactory, StrategyOptions, StrategyOutcome
from workbench.training.examples import qa_examples
from workbench.training.generator import GeneratorOptions, train_generator

DEMO_INDEX = "demo"
DEMO_RUN = "demo-lora"  # under training.output_root


@dataclass(frozen=True)
class DemoSettings:
    """Small enough to finish in minutes on a laptop CPU; see the README for what it shows."""

    questions: int = 3  # held-out questions, one per article, each answered by every strategy
    adapter_examples: int = 108  # demo QA pairs the adapter learns from (half of them with their paragraph)
    adapter_steps: int = 12  # one pass over the examples (10 % held out) at batch 8
    adapter_learning_rate: float = 1e-3  # high for LoRA, so that a dozen steps move it
    max_new_tokens: int = 24


@dataclass(frozen=True)
class DemoResult:
    index: Index  # index.last_update says what this run embedded, and in how long
    adapter: Path
    adapter_trained: bool  # False: an adapter from an earlier demo was reused
    adapter_seconds: float
    questions: list[QAPair]
    outcomes: list[StrategyOutcome]  # one per strategy, each answering every question in order


def demo_questions(pairs: Sequence[QAPair], count: int) -> list[QAPair]:
    """The first question of each of the first `count` articles: kept out of the adapter's training
    data and, being the evaluated question, out of the few-shot demonstrations too."""
    firsts: dict[str, QAPair] = {}
    for pair in pairs:
        firsts.setdefault(pair.topic or "", pair)
    return list(firsts.values())[:count]


def prepare_demo_index(config: Config, progress: ProgressCallback | None = None) -> Index:
    """Build the `demo` index, or bring it up to date (an unchanged corpus embeds nothing)."""
    from workbench.indexing import build_index

    return build_index(DEMO_INDEX, load_demo_corpus().documents, config=config, progress=progress)


def prepare_demo_adapter(config: Config, held_out: Sequence[QAPair], settings: DemoSettings,
                         progress: ProgressCallback | None = None) -> tuple[Path, bool]:
    """A LoRA adapter for the finetuned strategies: trained once for the generator, then reused.

    Half of its examples carry the gold paragraph (the RAFT recipe, for `rag+finetuned`), half the
    question alone (for `finetuned`). Returns the run folder and whether it was trained now."""
    path = Path(config.training.output_root) / DEMO_RUN
    if RunDir(path).is_complete():
        if RunDir.open(path).config().options.model == config.models.generator:
            return path, False
        shutil.rmtree(path)  # the demo's own adapter, for another generator: trained again for this one
    held_out_paragraphs = {pair.doc_id for pair in held_out}  # other questions on them would leak answers
    pairs = [pair for pair in load_demo_corpus().qa_pairs
             if pair.doc_id not in held_out_paragraphs][:settings.adapter_examples]
    half = len(pairs) // 2
    system = config.generation.system_prompt
    examples = qa_examples(pairs[:half], system, with_context="gold") + qa_examples(pairs[half:], system)
    options = GeneratorOptions.from_config(config.updated({
        "training.generator.method": "lora", "training.generator.epochs": 1,
        "training.generator.learning_rate": settings.adapter_learning_rate, "training.generator.eval_generate": 0,
        "training.checkpoint_every": 5, "training.max_steps": settings.adapter_steps}))
    source = "demo corpus QA pairs"
    if (path / "config.json").is_file():
        try:
            train_generator(examples, options, path, source=source, resume=True, progress=progress, index=DEMO_INDEX)
            return path, True
        except RunBusy:
            raise  # another process is training it: never removed from under it
        except RunError:  # the demo's own unfinished run, started with other settings: start over
            shutil.rmtree(path)
    train_generator(examples, options, path, source=source, progress=progress, index=DEMO_INDEX)
    return path, True


def prepare_demo(config: Config, settings: DemoSettings = DemoSettings(),
                 progress: ProgressCallback | None = None) -> DemoResult:
    """The demo index and adapter, made once (what `make demo` readies before opening the UI); the
    result has no answers yet."""
    index = prepare_demo_index(config, progress)
    questions = demo_questions(load_demo_corpus().qa_pairs, settings.questions)
    started = time.perf_counter()
    adapter, trained = prepare_demo_adapter(config, questions, settings, progress)
    return DemoResult(index, adapter, trained, time.perf_counter() - started, questions, [])


def run_demo(config: Config, settings: DemoSettings = DemoSettings(), progress: ProgressCallback | None = None,
             models: ModelPool | None = None) -> DemoResult:
    """Everything the demo shows, from a fresh machine to answers side by side (the generator is
    converted on first load)."""
    prepared = prepare_demo(config, settings, progress)
    factory = StrategyFactory(config.updated(demo_answer_settings(settings)),
                              StrategyOptions(index=DEMO_INDEX, adapters=(f"demo={prepared.adapter}",)), models=models)
    outcomes = factory.answer_each(STRATEGY_NAMES, prepared.questions, progress=progress)
    return dataclasses.replace(prepared, outcomes=outcomes)


def demo_answer_settings(settings: DemoSettings = DemoSettings()) -> dict[str, object]:
    """How the demo asks, in the terminal and in the UI: short answers, demonstrations by similarity."""
    return {"generation.max_new_tokens": settings.max_new_tokens, "strategies.shot_selection": "similar"}


def demo_ui_overrides(settings: DemoSettings = DemoSettings()) -> list[str]:
    """`demo_answer_settings` as the `--set` overrides `wb ui` passes to its pages."""
    return [f"{key}={value}" for key, value in demo_answer_settings(settings).items()]
