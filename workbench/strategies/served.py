"""Every strategy as a model name, for an OpenAI-style server (`wb serve`) and its clients.

    zero-shot, few-shot                      the base model's prompt strategies
    rag:INDEX                                RAG over index INDEX
    finetuned:RUN                            a `wb train generator` run (its folder name under training.output_root)
    rag+finetuned:INDEX:RUN                  both
    GENERATOR, RUN                           engine models: the base generator and each run, answering a raw prompt
                                             (as vLLM serves a base model and its LoRA modules)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.config import Config
from workbench.errors import UnknownModel, WorkbenchError
from workbench.generation import Generation, GenerationEngine
from workbench.indexing import list_indexes, storage
from workbench.runfolder import RunDir, RunError, list_runs


@dataclass(frozen=True)
class ServedModel:
    id: str
    strategy: str | None  # None: an engine model, answering raw prompts
    index: str | None = None
    run: Path | None = None  # a generator run folder

    @property
    def adapters(self) -> tuple[str, ...]:
        """As `StrategyOptions.adapters` takes it: NAME=PATH."""
        return (f"{self.run.name}={self.run}",) if self.run else ()


def served_models(config: Config) -> list[ServedModel]:
    """Every model id a server answers to, strategies first."""
    indexes = [i["name"] for i in list_indexes(config.index.root) if "error" not in i]
    runs = [Path(r["path"]) for r in list_runs(config.training.output_root, "generator")]
    models = [ServedModel("zero-shot", "zero-shot"), ServedModel("few-shot", "few-shot")]
    models += [ServedModel(f"rag:{index}", "rag", index=index) for index in indexes]
    models += [ServedModel(f"finetuned:{run.name}", "finetuned", run=run) for run in runs]
    models += [ServedModel(f"rag+finetuned:{index}:{run.name}", "rag+finetuned", index=index, run=run)
               for index in indexes for run in runs]
    models.append(ServedModel(config.models.generator, None))
    models += [ServedModel(run.name, None, run=run) for run in runs if run.name != config.models.generator]
    return models


def find_served(config: Config, model: str) -> ServedModel:
    """The model `model` names, checking only the index and run it names (a request should not read
    every index and run on disk, as listing them does)."""
    kind, _, rest = model.partition(":")
    names = {"rag": ["index"], "finetuned": ["run"], "rag+finetuned": ["index", "run"]}.get(kind) if rest else None
    parts = rest.split(":") if rest else []
    if model in ("zero-shot", "few-shot"):
        return ServedModel(model, model)
    if names is not None and len(parts) == len(names):
        found = dict(zip(names, parts))
        if ("index" not in found or _index_exists(config, found["index"])) and \
                ("run" not in found or _generator_run(config, found["run"])):
            return ServedModel(model, kind or None, found.get("index"),
                               Path(config.training.output_root) / found["run"] if "run" in found else None)
    elif not rest and model == config.models.generator:
        return ServedModel(model, None)
    elif not rest and _generator_run(config, model):
        return ServedModel(model, None, run=Path(config.training.output_root) / model)
    raise UnknownModel(f"model '{model}' does not exist: GET /v1/models lists them (zero-shot, few-shot, rag:INDEX, "
                       "finetuned:RUN, rag+finetuned:INDEX:RUN, the generator and each run by name)")


def _index_exists(config: Config, name: str) -> bool:
    return storage.index_exists(storage.index_path(config.index.root, name))


def _generator_run(config: Config, name: str) -> bool:
    """Whether `name` is a finished generator run directly under training.output_root (never a path elsewhere)."""
    if not name or Path(name).name != name or name in (".", ".."):
        return False
    run = RunDir(Path(config.training.output_root) / name)
    try:
        return run.is_complete() and run.config().kind == "generator"
    except (RunError, OSError):
        return False


class Completion:
    """A raw prompt for an engine model: its token ids, then its continuation (whole or streamed) or the
    log-probability of each of its tokens (OpenAI's `echo` with `logprobs`: likelihood scoring remotely)."""

    def __init__(self, engine: GenerationEngine, adapter: str | None, prompt: str | Sequence[int]):
        self.engine, self.adapter = engine, adapter
        self.prompt_ids = engine.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        if not self.prompt_ids:
            raise WorkbenchError("the prompt is empty")
        if len(self.prompt_ids) > engine.prompt_limit:
            raise WorkbenchError(f"the prompt has {len(self.prompt_ids)} tokens; {engine.prompt_limit} fit "
                                 f"(context window {engine.window} - {engine.settings.max_new_tokens} answer tokens)")

    def generate(self) -> Generation:
        return self.engine.generate([self.prompt_ids], adapter=self.adapter)[0]

    def stream(self) -> Iterator[str | Generation]:
        return self.engine.stream(self.prompt_ids, adapter=self.adapter)

    def prompt_logprobs(self) -> list[float | None]:
        """Each prompt token's log-probability after the ones before it (None for the first)."""
        return self.engine.prompt_logprobs(self.prompt_ids, adapter=self.adapter)

    def token_texts(self, ids: Sequence[int]) -> list[str]:
        return [self.engine.tokenizer.decode([t]) for t in ids]
