"""A QA variant: the strategy answers each held-out question, scored against its gold answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Config
from workbench.config.experiment import StrategySpec
from workbench.evaluation.evaluator import Evaluation
from workbench.experiments.cache import (
    adapter_of,
    answer_costs,
    ensure_index,
    ensure_run,
    finetuned_generator,
    run_costs,
    training_example,
    untrained_costs,
)
from workbench.experiments.workspace import Workspace
from workbench.ondisk import write_atomic

if TYPE_CHECKING:
    from workbench.strategies.base import Strategy


def evaluate_variant(work: Workspace, config: Config, spec: StrategySpec, label: str) -> tuple[Evaluation, dict]:
    from workbench.evaluation.qa import evaluate_answers

    strategy, costs = build_strategy(work, config, spec)
    answers = strategy.answer_many(work.data.test, progress=work.progress)
    return evaluate_answers(label, work.data.test, answers), {**costs, **answer_costs(answers)}


def build_strategy(work: Workspace, config: Config, spec: StrategySpec,
                   answer_index: str | None = None) -> tuple[Strategy, dict]:
    """The variant's strategy, with what it cost to set up: the index built when it retrieves (or trains
    on retrieved context), the generator trained on the training side as `spec` says when finetuned
    (reused when trained before). `answer_index`: search this index instead when answering (a study asks
    again after the documents changed, without retraining)."""
    from workbench.strategies import StrategyFactory, StrategyOptions
    from workbench.strategies.factory import STRATEGIES

    name = spec.strategy
    costs = untrained_costs()
    index = None
    if STRATEGIES[name].retrieves or spec.train_context == "retrieved":
        index, costs["setup_seconds"] = ensure_index(work, config)
        costs["storage_bytes"] = index_bytes(config, index)
    adapters: tuple[str, ...] = ()
    if STRATEGIES[name].finetuned:
        adapters = _trained_generator(work, config, spec, index, costs)
    factory = StrategyFactory(config, StrategyOptions(index=answer_index or index, adapters=adapters),
                              default_pool=work.data.train, models=work.models)
    return factory.build(name)[0], costs


def index_bytes(config: Config, name: str) -> int:
    from workbench.indexing import open_index

    return open_index(name, config.index.root).info()["size_bytes"]


def _trained_generator(work: Workspace, config: Config, spec: StrategySpec, index: str | None,
                       costs: dict) -> tuple[str, ...]:
    """The generator learns the training questions, the documents' text, or the documents and then the
    questions on top of them (`spec.learns`); the setup costs add up."""
    documents_seconds = 0.0
    if spec.learns != "questions":
        documents = ensure_run(work, config, "generator", _document_records(work, config),
                               {"format": "documents", **work.general_request})
        if spec.learns == "documents":
            costs.update(run_costs(documents))
            return adapter_of(documents)
        documents_seconds = run_costs(documents)["setup_seconds"] or 0.0  # the QA run's storage holds both
        config = config.updated({"training.generator.base_run": str(documents)})
    examples = [{**training_example(p), "context": p.context, "doc_id": p.doc_id} for p in work.data.train]
    extra: dict = {"paraphrases": spec.paraphrases} if spec.paraphrases else {}
    if work.data.folder:  # generated questions: drop training pairs that would leak a test question
        extra["held_out"] = _held_out_file(work)
    adapters = finetuned_generator(work, config, examples, costs, spec.train_context, index, extra)
    costs["setup_seconds"] = (costs["setup_seconds"] or 0.0) + documents_seconds
    return adapters


def _document_records(work: Workspace, config: Config) -> list[dict]:
    """The text continued pretraining learns, one record per chunk of the folder's index: every document
    in the knowledge design, the training side's documents only in the reading design."""
    from workbench.indexing import open_index

    if work.data.folder is None:
        raise ValueError("a finetuned strategy that learns documents needs experiment.data.documents (a folder)")
    name, _ = ensure_index(work, config)
    held_out = {p.doc_id for p in work.data.test} if work.spec.data.split == "reading" else set()
    return [{"text": chunk.text} for _, chunk in open_index(name, config.index.root).chunks()
            if chunk.doc_id not in held_out]


def _held_out_file(work: Workspace) -> Path:
    path = work.cache / "data" / f"held-out-{work.data.fingerprint}.jsonl"
    if not path.is_file():
        write_atomic(path, "".join(json.dumps({"id": p.id, "question": p.question, "answers": list(p.answers),
                                               "context": p.context, "doc_id": p.doc_id}) + "\n"
                                   for p in work.data.test))
    return path
