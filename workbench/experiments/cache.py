"""What the variants of an experiment share, cached under keys that hash their settings and their data:
the index, trained runs, and what each cost. A rerun reuses them; a changed setting builds or trains
anew (never silently stale). Experiments sharing the cache at once (two jobs started from the browser,
two terminals) build each entry once: the second waits for the first, then reuses what it made."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from workbench.config import Config
from workbench.corpus import QAPair
from workbench.evaluation.statistics import paired_bootstrap_p
from workbench.experiments.outputs import read_output
from workbench.experiments.workspace import Workspace
from workbench.ondisk import exclusive, write_atomic, write_json
from workbench.progress import ProgressCallback
from workbench.runfolder import RunDir

if TYPE_CHECKING:
    from workbench.indexing import Index


def _one_at_a_time(cache: Path, entry: str) -> AbstractContextManager[None]:
    """Held while an entry is checked and built: without it, a second experiment would find the index or run
    being written by the first and fail (they lock their folders against a second writer)."""
    return exclusive(cache / "locks" / f"{entry}.lock")


def key_of(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def settings_dump(config: Config) -> dict:
    """The settings a result depends on (not where files go, not the UI, not the experiment itself)."""
    dump = config.model_dump(mode="json", exclude={"ui", "serve", "auth", "experiment", "study"})
    dump["training"].pop("output_root")
    dump["index"].pop("root")
    # Which engine answers is recorded beside each answer, not in the key: an OpenAI-compatible engine gives
    # the local engine's answers (tested), as a shared batch does; results cached before these settings keep their keys.
    for key in ("backend", "openai", "max_batch_rows") + (("stop",) if not dump["generation"]["stop"] else ()):
        dump["generation"].pop(key)
    return dump


# ---- the index --------------------------------------------------------------------------------------------


class IndexBuild(BaseModel):
    """<cache>/<index name>.json: how long the index took to build, charged to every variant using it."""

    build_seconds: float


def ensure_index(work: Workspace, config: Config) -> tuple[str, float]:
    """The experiment corpus's index under these chunking/index/embedder settings: (name, seconds it
    took to build; 0 when it was already there). A folder of documents is indexed once and updated in
    place when its files change."""
    from workbench.indexing import IndexSettings

    settings = IndexSettings.from_config(config)
    if settings not in work.indexes:  # once per experiment and settings: not a folder read and converted per variant
        index, seconds = folder_index(work.cache, config, work.data.folder, work.progress) if work.data.folder else \
            _documents_index(work, config)
        work.indexes[settings] = (index.path.name, seconds)
    return work.indexes[settings]


def folder_index(cache: Path, config: Config, folder: Path, progress: ProgressCallback | None = None) -> tuple[Index, float]:
    """The index of a folder's files (its name keyed by the folder and the settings), brought up to date
    with them: `index.last_update` says what changed since the last build; with the seconds the last build
    that changed anything took."""
    from workbench.indexing import build_index

    settings = {k: v for k, v in settings_dump(config).items() if k in ("chunking", "index")}
    name = f"documents-{folder.name[:40]}-{key_of(settings, config.models.embedder, str(folder.resolve()))}"
    return _timed_build(cache, name, lambda: build_index(name, sources=[folder], config=config, progress=progress))


def _documents_index(work: Workspace, config: Config) -> tuple[Index, float]:
    from workbench.indexing import build_index

    settings = {k: v for k, v in settings_dump(config).items() if k in ("chunking", "index")}
    name = f"experiment-{key_of(settings, config.models.embedder, [repr(d) for d in work.data.documents])}"
    return _timed_build(work.cache, name,
                        lambda: build_index(name, work.data.documents, config=config, progress=work.progress))


def _timed_build(cache: Path, name: str, build: Callable[[], Index]) -> tuple[Index, float]:
    timing = cache / f"{name}.json"
    with _one_at_a_time(cache, name):
        started = time.perf_counter()
        index = build()
        update = index.last_update
        if update.added or update.replaced or update.removed or not timing.is_file():
            write_json(timing, IndexBuild(build_seconds=time.perf_counter() - started).model_dump())
    return index, read_output(timing, IndexBuild).build_seconds


# ---- trained runs -----------------------------------------------------------------------------------------


def ensure_run(work: Workspace, config: Config, kind: str, examples: list[dict] | str, request: dict) -> Path:
    """A finished training run for these settings and examples, trained (or resumed) if needed."""
    from workbench.requests import ClassifierRequest, GeneratorRequest, RewardRequest
    from workbench.workflows import training

    settings = settings_dump(config)
    run = RunDir(work.cache / f"{kind}-{key_of(kind, settings['training'], settings['models'], examples, request)}")
    with _one_at_a_time(work.cache, run.path.name):
        if run.is_complete():
            return run.path
        data = work.cache / "data" / f"{run.path.name}.{'tsv' if kind == 'classifier' else 'jsonl'}"
        write_atomic(data, examples if isinstance(examples, str) else "".join(json.dumps(e) + "\n" for e in examples))
        resume = run.config_path.is_file()  # started before and interrupted
        if kind == "classifier":
            training.train_classifier(config, ClassifierRequest(data=data, output=run.path, resume=resume), work.progress)
        elif kind == "reward":
            training.train_reward(config, RewardRequest(data=data, output=run.path, resume=resume), work.progress)
        else:
            training.train_generator(config, GeneratorRequest(data=data, output=run.path, resume=resume, **request),
                                     work.progress, work.models)
    return run.path


def training_example(pair: QAPair) -> dict:
    """An item as a generator learns it (QA records: question, answers)."""
    return {"id": pair.id, "question": pair.question, "answers": list(pair.answers)}


def finetuned_generator(work: Workspace, config: Config, examples: list[dict], costs: dict,
                        with_context: str = "none", index: str | None = None,
                        request: dict | None = None) -> tuple[str, ...]:
    """The generator trained (or reused) on `examples` (QA records), as the factory's adapter list;
    its costs are added to `costs`. `request`: more of the generator request (paraphrases, held_out)."""
    run = ensure_run(work, config, "generator", examples,
                     {"format": "qa", "with_context": with_context, "index": index, **work.general_request,
                      **(request or {})})
    costs.update(run_costs(run))
    return adapter_of(run)


def adapter_of(run: Path) -> tuple[str, ...]:
    """A trained run as the strategy factory's adapter list: one adapter, named after its run."""
    return (f"{run.name}={run}",)


# ---- costs ------------------------------------------------------------------------------------------------


def run_costs(folder: Path) -> dict[str, float | None]:
    """What a trained run cost, and for a generator what it forgot on general instructions
    (experiment.data.general, else a bundled set) against the base model: the change of its
    completion loss, and its replies' ROUGE-L before and after with a paired test."""
    summary = RunDir(folder).summary()
    costs = {"setup_seconds": summary.get("wall_seconds"), "trainable_parameters": summary.get("trainable_params"),
             "storage_bytes": summary.get("saved_bytes")}
    dropped = summary.get("truncation", {}).get("train", {}).get("dropped")
    if dropped:  # a run that lost examples to max_length says so in its row
        costs["training_examples_dropped"] = dropped
    forgetting = summary.get("forgetting")
    if forgetting and "after" in forgetting:
        before, after = forgetting["before"], forgetting["after"]
        costs["general_loss_change"] = after["loss"] - before["loss"]
        if "rougeL_items" in before:  # the task metric on the same instructions, paired item by item
            change = np.subtract(after["rougeL_items"], before["rougeL_items"])
            costs.update(general_rougeL_before=before["rougeL"], general_rougeL_after=after["rougeL"],
                         general_rougeL_change_p=paired_bootstrap_p(change))
    return costs


def answer_costs(answers) -> dict[str, float]:
    """Mean latency and prompt tokens per answered item."""
    n = max(len(answers), 1)
    return {"latency_seconds": sum(a.seconds for a in answers) / n, "prompt_tokens": sum(a.tokens_in for a in answers) / n}


def untrained_costs() -> dict[str, float | None]:
    """The costs of a variant that trains nothing, before its index (if any) and its answers add theirs."""
    return {"setup_seconds": 0.0, "trainable_parameters": 0}
