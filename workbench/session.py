"""`Workbench`: the one public entry point. The command line, the demo, the background jobs, the
benchmarks and the browser pages all call a session; nothing below this module imports it.

A session holds the validated `Config` (every default lives in configs/default.yaml) and the models it
has loaded (`ModelPool`, within `models.memory_mb`). `session.updated({"retrieval.k": 5})` is a session
with one setting changed that shares the same models. Each operation takes a typed request for what
is not a setting (which files, which index, where to write, see `workbench.requests`) and an optional
progress callback (`workbench.progress`). Results carry their warnings (skipped files, truncated
texts) instead of only logging them.

    from workbench.session import Workbench
    bench = Workbench()
    bench.index(IndexRequest(name="manuals", paths=[Path("docs/")]))
    for outcome in bench.ask("How do I reset the device?", ["zero-shot", "rag"], StrategyOptions(index="manuals")):
        print(outcome.label, outcome.answers[0].text if outcome.answers else outcome.error.describe())
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from workbench.config import (
    Config,
    ConfigError,
    load_config,
    setting_choices,
    setting_descriptions,
    setting_field,
    setting_value,
)
from workbench.demo import DEMO_INDEX, demo_ui_overrides
from workbench.errors import Failure, UnknownModel, WorkbenchError
from workbench.models.registry import EMBEDDED_GENERATORS
from workbench.preference import PREFERENCE_METHODS
from workbench.progress import ProgressCallback
from workbench.requests import (
    ClassifierRequest,
    CompareRequest,
    EstimateRequest,
    ExportRequest,
    GeneratorRequest,
    IndexRequest,
    QuestionsRequest,
    RewardRequest,
    RunRequest,
    StrategyOptions,
    StudyRequest,
)
from workbench.runfolder import RunDir, list_runs, results_folder
from workbench.strategies import SELECTIONS as SHOT_SELECTIONS
from workbench.strategies import STRATEGY_NAMES
from workbench.summary import Summary, read_summary

__all__ = ["DEMO_INDEX", "EMBEDDED_GENERATORS", "PREFERENCE_METHODS", "SHOT_SELECTIONS", "STRATEGY_NAMES", "AnswerStream", "EstimateReport", "SettingSpec",
           "Workbench", "demo_ui_overrides"]

if TYPE_CHECKING:  # imported where used: the CLI's `--help` should not wait for torch
    from workbench.corpus import QAPair
    from workbench.demo import DemoResult
    from workbench.estimate.advisor import Advice
    from workbench.estimate.estimator import Estimate
    from workbench.estimate.pilot import Comparison, Pilot
    from workbench.evaluation.qa import QAScores
    from workbench.indexing import Index, SearchHit, UpdateSummary
    from workbench.models.pool import ModelPool
    from workbench.questions import QuestionReport
    from workbench.strategies import Answer, StrategyOutcome
    from workbench.strategies.served import Completion
    from workbench.study import StudyOutcome


@dataclasses.dataclass(frozen=True)
class EstimateReport:
    estimate: Estimate
    advice: Advice
    pilot: Pilot | None
    comparisons: list[Comparison]  # the pilot's measurements beside the estimate

    def as_dict(self) -> dict:
        return {"estimate": self.estimate.as_dict(), "advice": self.advice.as_dict(),
                "pilot": dataclasses.asdict(self.pilot) if self.pilot else None,
                "comparisons": [dataclasses.asdict(c) | {"ratio": c.ratio} for c in self.comparisons]}


@dataclasses.dataclass(frozen=True)
class AnswerStream:
    """Side-by-side answers as they are generated: `labels` names each column before any text arrives;
    iterating yields (column, text piece), then (column, finished `Answer`) or (column, `Failure`)."""

    labels: list[str]
    items: Iterator[tuple[int, str | Answer | Failure]]

    def __iter__(self) -> Iterator[tuple[int, str | Answer | Failure]]:
        return self.items

    def outcomes(self) -> list[StrategyOutcome]:
        """The rest of the stream, drained: one outcome per column, as `ask` without streaming gives."""
        from workbench.strategies import StrategyOutcome

        finished: dict[int, Answer | Failure] = {column: item for column, item in self if not isinstance(item, str)}
        return [StrategyOutcome(label, error=finished[column]) if isinstance(finished[column], Failure)
                else StrategyOutcome(label, (finished[column],)) for column, label in enumerate(self.labels)]


@dataclasses.dataclass(frozen=True)
class SettingSpec:
    """A config key as the faces offer it."""

    kind: Any  # int, float, bool, str, list[str], Path...: of `X | None`, the X
    optional: bool  # None is allowed
    choices: tuple  # the values accepted when it is a choice (a registry's names, or a Literal's), else ()
    bounds: dict[str, float]  # its constraints: gt, ge, le
    description: str  # its comment in configs/default.yaml


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (localhost, 127.0.0.0/8, ::1)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _registered_settings() -> dict[str, Callable[[], tuple[str, ...]]]:
    """The settings whose values name registry entries, with the names each registry knows now (a method
    registered by a plugin counts): YAML cannot list them, so the session checks them when it starts."""
    from workbench.estimate import method_names
    from workbench.models.methods import generator_method_names
    from workbench.training.classifier_methods import classifier_method_names

    return {"training.generator.method": generator_method_names,
            "training.classifier.method": classifier_method_names,
            "estimate.method": method_names}


def _check_registered(config: Config) -> None:
    for dotted, names in _registered_settings().items():
        value = setting_value(config, dotted)
        if value is not None and value not in names():
            raise ConfigError(f"{dotted}: unknown value '{value}' (choose from {', '.join(names())})")


class Workbench:
    """A session: the config and the models loaded under it. Cheap to make: sessions share the process's
    model pool unless given their own (`models`), so a server or the UI loads each model once."""

    def __init__(self, config: Config | None = None, models: ModelPool | None = None):
        from workbench.models.pool import ModelPool

        self.config = config if config is not None else load_config()
        _check_registered(self.config)
        self.models = models if models is not None else ModelPool.default(self.config.models.memory_mb)

    def updated(self, values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> Workbench:
        """This session with some settings changed (dotted keys, checked like the YAML), on the same models."""
        return Workbench(self.config.updated(values, origins), self.models)

    @staticmethod
    def setting_choices(dotted: str) -> tuple[str, ...]:
        """The values a setting accepts: a registry's entries for the method settings, else the
        config's declared choices (a `ConfigError` when it is not a choice)."""
        registered = _registered_settings().get(dotted)
        return registered() if registered else setting_choices(dotted)

    @staticmethod
    def setting_spec(dotted: str) -> SettingSpec:
        """What a face needs to offer a setting (the CLI's flags, the pages' form fields), from its
        declaration: so no face declares a setting again."""
        field = setting_field(dotted)
        kind, optional = field.annotation, get_origin(field.annotation) in (Union, UnionType)
        if optional:  # X | None: the face offers an X
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        try:
            choices = Workbench.setting_choices(dotted)
        except ConfigError:
            choices = ()
        bounds = {name: getattr(rule, name) for rule in field.metadata for name in ("gt", "ge", "le") if hasattr(rule, name)}
        return SettingSpec(kind, optional, choices, bounds, setting_descriptions().get(dotted, ""))

    # ---- indexes --------------------------------------------------------------------------------------

    def index(self, request: IndexRequest, progress: ProgressCallback | None = None) -> Index:
        """Make the index hold exactly these documents (unchanged ones are not embedded again);
        `index.last_update` says what changed, with skipped files and warnings."""
        from workbench.corpus import load_demo_corpus
        from workbench.indexing import build_index

        request.check()
        config = self.config
        documents = load_demo_corpus().documents if request.demo else None
        return build_index(request.name, documents, sources=request.paths or None, config=config, progress=progress,
                           text_field=config.data.text_field, text_column=config.data.text_column)

    def add_documents(self, name: str, paths: Sequence[Path], progress: ProgressCallback | None = None) -> UpdateSummary:
        """Add new files to index `name` and replace changed ones."""
        from workbench.indexing import chunk_embedding, load_documents

        index = self.open_index(name)
        embed = chunk_embedding(self.config.index)
        loaded = load_documents(list(paths), text_field=self.config.data.text_field,
                                text_column=self.config.data.text_column, progress=progress)
        summary = index.add(loaded.documents, embedder=self.config.models.embedder, progress=progress, embed=embed)
        return dataclasses.replace(summary, skipped_files=tuple(loaded.skipped))

    def remove_document(self, name: str, doc_id: str) -> UpdateSummary:
        return self.open_index(name).remove(doc_id)

    def open_index(self, name: str) -> Index:
        """Index `name` under `index.root`, for its info and documents (searching: `search`)."""
        from workbench.indexing import open_index

        return open_index(name, self.config.index.root)

    def list_indexes(self) -> list[dict]:
        """Every index under `index.root` with its size and settings (or the error that hides it)."""
        from workbench.indexing import list_indexes

        return list_indexes(self.config.index.root)

    def index_path(self, name: str) -> Path:
        from workbench.indexing import storage

        return storage.index_path(self.config.index.root, name)

    def search(self, name: str, query: str, k: int | None = None, filters: dict | None = None,
               hybrid: bool | None = None) -> list[SearchHit]:
        """The best chunks for `query` (k and hybrid default to `retrieval.*`)."""
        return self.open_index(name).search(query, k=k or self.config.retrieval.k, filters=filters,
                                            hybrid=self.config.retrieval.hybrid if hybrid is None else hybrid)

    def evaluate_retrieval(self, name: str, data: Path, ks: Sequence[int], hybrid: bool | None = None) -> dict:
        """Recall@k, nDCG@k and MRR of index `name` on the QA pairs of `data` (their contexts are the gold)."""
        from workbench.corpus import load_qa
        from workbench.evaluation.retrieval import evaluate_retrieval

        hybrid = self.config.retrieval.hybrid if hybrid is None else hybrid
        return {"hybrid": hybrid, **evaluate_retrieval(self.open_index(name), load_qa(data), list(ks), hybrid=hybrid)}

    def preview_chunks(self, paths: Sequence[Path] | None, documents: int = 3) -> tuple[list, list, list]:
        """(the first `documents` documents, their chunks, the files skipped with why) of these files (None:
        the demo corpus), cut as `chunking` says, without embedding anything: what the Indexes page shows
        before a build."""
        from workbench.corpus import load_demo_corpus
        from workbench.indexing import chunk_documents, load_documents

        if paths is None:
            loaded, skipped = load_demo_corpus().documents, []
        else:
            result = load_documents(list(paths), text_field=self.config.data.text_field,
                                    text_column=self.config.data.text_column)
            loaded, skipped = result.documents, list(result.skipped)
        chunking = self.config.chunking
        chunks = chunk_documents(loaded[:documents], chunking.splitter, chunking.chunk_size, chunking.chunk_overlap,
                                 self.config.models.embedder)
        return loaded[:documents], chunks, skipped

    # ---- answering ------------------------------------------------------------------------------------

    def ask(self, question: str | QAPair, strategies: Sequence[str], options: StrategyOptions | None = None,
            stream: bool = False, progress: ProgressCallback | None = None) -> list[StrategyOutcome] | AnswerStream:
        """Every strategy answers `question`, side by side, in one batched generation where adapters allow
        it; a strategy that fails reports its `Failure` in its own outcome (or column) and the others still
        answer. `stream`: an `AnswerStream` of text pieces as they are generated."""
        from workbench.strategies import parse_strategy_names
        from workbench.strategies.base import as_pair
        from workbench.strategies.side_by_side import stream_together

        as_pair(question)  # an empty question is one error, not one per strategy
        factory = self._factory(options)
        names = parse_strategy_names(list(strategies))
        if not stream:
            return factory.answer_each(names, [question], progress=progress)
        built = factory.build_each(names)
        runnable = [position for position, (_, strategy) in enumerate(built) if not isinstance(strategy, Failure)]

        def items() -> Iterator[tuple[int, str | Answer | Failure]]:
            for position, (_, strategy) in enumerate(built):
                if isinstance(strategy, Failure):
                    yield position, strategy
            for index, item in stream_together([built[p][1] for p in runnable], question):
                yield runnable[index], Failure.of(item) if isinstance(item, Exception) else item

        return AnswerStream([label for label, _ in built], items())

    def evaluate(self, data: Path, strategies: Sequence[str], options: StrategyOptions | None = None,
                 limit: int | None = None, output: Path | None = None,
                 progress: ProgressCallback | None = None) -> tuple[list[QAScores], Path]:
        """Score strategies on the QA pairs of `data` (the first `limit`); predictions and scores.json go to
        `output` (default: <training.output_root>/eval-qa/<time>). Returns (scores, output folder)."""
        from workbench.corpus import load_qa
        from workbench.evaluation.qa import evaluate_qa
        from workbench.strategies import parse_strategy_names

        if limit is not None and limit < 1:
            raise WorkbenchError(f"--limit must be at least 1, got {limit}")
        every_pair = load_qa(data)
        pairs = every_pair[:limit]
        # Few-shot demonstrations come from the pairs not evaluated (else from the demo corpus); FewShot
        # itself skips the evaluated question's paragraph.
        others = every_pair[len(pairs):]
        built = self._factory(options, default_pool=others or None).build_many(parse_strategy_names(list(strategies)))
        output = Path(output or results_folder(self.config.training.output_root, "eval-qa"))
        return evaluate_qa(built, pairs, output_dir=output, progress=progress), output

    # ---- sign-in for servers on the network (wb serve, wb ui) -------------------------------------------

    def access_token(self) -> str | None:
        """The shared token: the first line of auth.token_file, else $<auth.token_env>; None when neither is set."""
        auth = self.config.auth
        if auth.token_file is not None:
            try:
                token = Path(auth.token_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise WorkbenchError(f"auth.token_file {auth.token_file}: cannot be read ({exc.strerror})") from None
            if not token:
                raise WorkbenchError(f"auth.token_file {auth.token_file} is empty: write the token in it")
            return token
        return os.environ.get(auth.token_env, "").strip() or None

    def sign_in(self, host: str, face: str) -> str:
        """How a server (`face`: "serve" or "ui") listening on `host` signs people in: "none" on the loopback
        address, else "oidc" (the UI, with auth.oidc) or "token"; refused with how to set one up when no
        sign-in is configured."""
        if is_loopback(host):
            return "none"
        if face == "ui" and self.config.auth.oidc:
            return "oidc"
        if self.access_token() is not None:
            return "token"
        auth = self.config.auth
        raise WorkbenchError(
            f"refusing to listen on {host} without sign-in: anyone who can reach this machine could use it. Set a "
            f"token: `export {auth.token_env}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')` or "
            "--set auth.token_file=FILE" + (" (or Streamlit's OIDC login: --set auth.oidc=true with an [auth] "
                                            "section in .streamlit/secrets.toml)" if face == "ui" else "")
            + "; or listen on 127.0.0.1 only (docs/serve.md)")

    # ---- serving: every strategy as a model (`wb serve`, docs/serve.md) -----------------------------------

    def served_models(self) -> list[str]:
        """The model ids a server answers to: zero-shot, few-shot, rag:INDEX, finetuned:RUN,
        rag+finetuned:INDEX:RUN, then the engine models (the generator and each run) for raw prompts."""
        from workbench.strategies.served import served_models

        return [model.id for model in served_models(self.config)]

    def serving_status(self) -> dict:
        """The generators' queues: requests waiting for a batch, whether one is generating, batches so far."""
        from workbench.generation import adapters_for

        schedulers = [adapters_for(generator).scheduler for generator in self.models.generators()]
        return {"waiting": sum(s.waiting for s in schedulers), "generating": any(s.busy for s in schedulers),
                "batches": sum(s.batches for s in schedulers)}

    def answer_as(self, model: str, question: str, stream: bool = False) -> StrategyOutcome | AnswerStream:
        """`ask` with the strategy a served model id names (the answer `wb ask` gives with those options)."""
        from workbench.strategies.served import find_served

        served = find_served(self.config, model)
        if served.strategy is None:
            raise UnknownModel(f"'{model}' is an engine model: it completes a raw prompt (POST /v1/completions); "
                               "chat with a strategy (zero-shot, rag:INDEX, finetuned:RUN, ...)")
        options = StrategyOptions(index=served.index, adapters=served.adapters)
        outcome = self.ask(question, [served.strategy], options, stream=stream)
        return outcome if stream else outcome[0]

    def complete(self, model: str, prompt: str | Sequence[int]) -> Completion:
        """A raw prompt (text as the model's tokenizer reads it, special tokens written out; or token ids)
        continued by an engine model (the generator, or the generator with a run's adapter), as an
        OpenAI-style engine does: what `generation.backend: openai` sends to vLLM or llama.cpp."""
        from workbench.strategies.served import Completion, find_served

        served = find_served(self.config, model)
        options = StrategyOptions(adapters=served.adapters, whole_replies=True)
        [strategy] = self._factory(options).build("finetuned" if served.run else "zero-shot")
        return Completion(strategy.engine, strategy.adapter_key, prompt)

    @staticmethod
    def score_answer(text: str, gold: Sequence[str]) -> dict[str, float]:
        """One answer's QA scores against its gold answers: exact match, token F1, answer contained."""
        from workbench.evaluation.metrics import answer_contained, exact_match, token_f1

        return {"exact_match": exact_match(text, gold), "token_f1": token_f1(text, gold),
                "answer_contained": answer_contained(text, gold)}

    @staticmethod
    def normalize_answer(text: str) -> str:
        """An answer as the QA metrics compare it (lower case, no punctuation, articles or extra spaces)."""
        from workbench.evaluation.metrics import normalize_answer

        return normalize_answer(text)

    def _factory(self, options: StrategyOptions | None, default_pool: Sequence[QAPair] | None = None):
        from workbench.strategies import StrategyFactory, StrategyOptions

        return StrategyFactory(self.config, options or StrategyOptions(), default_pool, self.models)

    # ---- questions from documents ---------------------------------------------------------------------

    def questions(self, request: QuestionsRequest, progress: ProgressCallback | None = None) -> tuple[list, QuestionReport]:
        """Questions written answer-first from the index's chunks, checked, with the shares that retrieve
        their own chunk and that the base model answers closed-book; returns (records, report). A killed
        run resumes from its work log when asked again with the same settings."""
        from workbench.questions import generate_for

        return generate_for(self.config, request, self.models, progress)

    def questions_folder(self) -> Path:
        """Where the browser UI keeps question files: <training.output_root>/questions."""
        return Path(self.config.training.output_root) / "questions"

    def read_questions(self, path: Path) -> list:
        """The items of a generated (or reviewed) questions file, checked against its schema."""
        from workbench.questions import read_questions

        return read_questions(Path(path))

    def question_report(self, path: Path) -> dict | None:
        """The report written beside a questions file (what each check rejected), if there is one."""
        from workbench.ondisk import read_file
        from workbench.questions import report_file

        report = report_file(Path(path))
        return read_file(report, dict) if report.is_file() else None

    def review_questions(self, source: Path, decisions: Mapping, output: Path) -> tuple[Path, int, int]:
        """Save a review of `source` as the new file `output` (`decisions`: id → accept/edit/reject; items
        without one are kept as they are); returns (output, kept, rejected)."""
        from workbench.questions import Decision, apply_review

        decisions = {key: value if isinstance(value, Decision) else Decision(**value) for key, value in decisions.items()}
        return apply_review(Path(source), decisions, Path(output))

    def split_questions(self, source: Path, test_share: float = 0.5, by: str = "chunk",
                        seed: int | None = None) -> tuple[tuple[Path, int], tuple[Path, int]]:
        """SOURCE.train.jsonl and SOURCE.test.jsonl, whole chunks (or questions, documents) on one side each."""
        from workbench.questions import split_questions

        return split_questions(Path(source), test_share, by, self.config.training.seed if seed is None else seed)

    # ---- training -------------------------------------------------------------------------------------

    def train(self, request: RunRequest, progress: ProgressCallback | None = None) -> RunDir:
        """Train what the request asks for (`ClassifierRequest`, `GeneratorRequest` or `RewardRequest`)
        with the config's `training.*` settings; returns the finished run. With `training.processes` > 1
        this process must be one of those a launcher started (`wb train --nproc N` runs it under torchrun)."""
        from workbench.training.distributed import current_world
        from workbench.workflows import training

        processes = self.config.training.processes
        if processes > 1 and current_world().size == 1:
            raise WorkbenchError(f"training.processes is {processes}, but this is a single process: start the "
                                 f"training with `wb train ... --nproc {processes}` (or torchrun, docs/scale.md); "
                                 "training from the browser runs on one process (set training.processes: 1)")

        if isinstance(request, GeneratorRequest):  # paraphrases are written by the session's generator
            return training.train_generator(self.config, request, progress, self.models)
        if isinstance(request, ClassifierRequest):
            return training.train_classifier(self.config, request, progress)
        if isinstance(request, RewardRequest):
            return training.train_reward(self.config, request, progress)
        raise WorkbenchError(f"nothing trains a {type(request).__name__}")

    def evaluate_classifier(self, run: Path, data: Path, output: Path | None = None) -> tuple[dict, Path]:
        """Score a trained classifier on a labelled table; returns (scores, output folder)."""
        from workbench.workflows.training import evaluate_classifier

        return evaluate_classifier(self.config, run, data, output)

    def merge_run(self, run: Path, output: Path) -> Path:
        """A LoRA or IA3 run's adapter folded into its base model, saved as a full model in `output`."""
        from workbench.training.merge import merge_run

        return merge_run(run, output)

    def export_run(self, request: ExportRequest, progress: ProgressCallback | None = None) -> list[Path]:
        """A finished generator run for use outside workbench: `merged`, a Hugging Face model folder (adapter
        folded in); `gguf`, a GGUF file for llama.cpp with an Ollama Modelfile beside it (the system prompt
        and sampling of `generation.*`). Returns the paths written (the folder; the GGUF file and Modelfile)."""
        from workbench.training.export import export_run

        request.check()
        output = request.output or self.export_folder(request)
        generation = self.config.generation
        sampling = {"temperature": generation.temperature, "top_p": generation.top_p} if generation.do_sample \
            else {"temperature": 0.0, "top_p": None}
        return export_run(request.run, output, request.format, request.dtype or "f16", generation.system_prompt,
                          progress=progress, **sampling)

    def export_folder(self, request: ExportRequest) -> Path:
        """Where an export goes without --output: <training.output_root>/exports/<run folder name>-<format>."""
        return Path(self.config.training.output_root) / "exports" / f"{Path(request.run).resolve().name}-{request.format}"

    def list_runs(self, kind: str | None = None) -> list[dict]:
        """The finished runs under `training.output_root` (of one kind: classifier, generator, reward), newest first."""
        return list_runs(self.config.training.output_root, kind)

    def open_run(self, path: Path) -> RunDir:
        return RunDir(Path(path))

    # ---- experiments and estimates --------------------------------------------------------------------

    def compare(self, request: CompareRequest, progress: ProgressCallback | None = None) -> tuple[list, Path]:
        """Every strategy of the config's experiment on the same held-out items; returns (a `VariantResult`
        per variant, the results folder with summary, comparisons, plots and per-item predictions)."""
        from workbench.experiments.runner import run_experiment

        return run_experiment(self.config, request.smoke, request.output, progress, self.models)

    def study(self, request: StudyRequest, progress: ProgressCallback | None = None) -> StudyOutcome:
        """A folder of documents to a verdict: index it, write questions (or take `request.questions`), run
        the own-documents experiment in each split design, ask again after facts change, and report
        (study.md, study.json, study.png in the returned outcome's folder)."""
        from workbench.study import run_study

        return run_study(self.config, request, progress, self.models)

    def study_questions(self, request: StudyRequest, progress: ProgressCallback | None = None) -> Path:
        """A study's first steps alone, to review the questions before the study: the folder indexed (or
        brought up to date) and the questions written from it; returns the questions file."""
        from workbench.study.run import study_config, study_questions

        return study_questions(study_config(self.config, request.smoke), request, self.models, progress)[1]

    def list_studies(self) -> list[dict]:
        """The studies under <training.output_root>/studies, newest first: folder, name, whether the report
        is written, the index it searched (once written) and its questions files."""
        root = Path(self.config.training.output_root) / "studies"
        folders = sorted((p for p in root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        return [{"folder": p, "name": p.name, "report": (p / "study.json").is_file(),
                 "index": self.read_study(p)["index"]["name"] if (p / "study.json").is_file() else None,
                 "questions": sorted(p.glob("questions-*.jsonl"), key=lambda q: q.stat().st_mtime, reverse=True)}
                for p in folders]

    def study_folder(self, request: StudyRequest) -> Path:
        """Where a study of `request.folder` writes its report."""
        from workbench.study.run import study_config, study_folder

        return study_folder(study_config(self.config, request.smoke), request)

    @staticmethod
    def read_study(folder: Path) -> dict:
        """A study folder's study.json (what the report says, as data)."""
        from workbench.ondisk import read_file

        return read_file(Path(folder) / "study.json", dict)

    @staticmethod
    def read_summary(folder: Path) -> Summary:
        """A results folder's summary.json, checked (an `ExperimentFileError` naming the file if damaged)."""
        return read_summary(folder)

    @staticmethod
    def paired_matrix(comparisons: list[dict]) -> dict:
        """An experiment's paired comparisons (summary.json) as a strategies × strategies table of differences."""
        from workbench.experiments.report import paired_matrix

        return paired_matrix(comparisons)

    def estimate(self, request: EstimateRequest, progress: ProgressCallback | None = None) -> EstimateReport:
        """Memory, time and serving cost of the setting, the retrieve-or-finetune advice, and (with a
        pilot) the measurement beside the estimate; with `request.output`, estimate.json and plots there."""
        from workbench.estimate.advisor import Corpus, advise
        from workbench.estimate.estimator import Setting, estimate
        from workbench.estimate.pilot import compare_with_pilot, run_pilot

        request.check()
        config = self.config
        corpus = Corpus.from_index(config, request.index) if request.index else None
        setting = Setting.from_config(config, corpus.mean_chunk_tokens if corpus else None)
        result = estimate(setting)
        pilot = run_pilot(setting, request.pilot, progress) if request.pilot else None
        report = EstimateReport(result, advise(config, result, corpus, request.experiment), pilot,
                                compare_with_pilot(setting, pilot) if pilot else [])
        if request.output:
            from workbench.figures import figure_png
            from workbench.ondisk import write_atomic, write_json

            write_json(request.output / "estimate.json", report.as_dict())
            for name, figure in self.estimate_figures(report).items():
                write_atomic(request.output / f"{name}.png", figure_png(figure))
        return report

    def estimate_catalog(self) -> tuple[list[str], list]:
        """What the estimator knows offline: the shipped architectures by name, and the GPUs (name, memory,
        peak FLOP/s, bandwidth, price)."""
        from workbench.estimate.architecture import shipped_architectures
        from workbench.estimate.devices import GPUS

        return list(shipped_architectures()), list(GPUS.values())

    def estimate_figures(self, report: EstimateReport) -> dict:
        """The estimate's plots by name: `memory` (what the peak holds), `break-even` (of the advice)."""
        from workbench.estimate.plots import break_even, memory_breakdown

        setting = report.estimate.setting
        return {"memory": memory_breakdown({f"{setting['method']} on {report.estimate.device.name}": report.estimate}),
                "break-even": break_even(report.advice)}

    # ---- the demo -------------------------------------------------------------------------------------

    def prepare_demo(self, progress: ProgressCallback | None = None) -> DemoResult:
        """The demo index and adapter, made once (what `make demo` readies before opening the UI)."""
        from workbench.demo import prepare_demo

        return prepare_demo(self.config, progress=progress)

    def run_demo(self, progress: ProgressCallback | None = None) -> DemoResult:
        """Everything the demo shows, from a fresh machine to every strategy's answers side by side."""
        from workbench.demo import run_demo

        return run_demo(self.config, progress=progress, models=self.models)

    def demo_questions(self) -> list[QAPair]:
        """One held-out question per demo article (kept out of the demo adapter and the few-shot pool)."""
        from workbench.corpus import load_demo_corpus
        from workbench.demo import demo_questions

        corpus = load_demo_corpus()
        return demo_questions(corpus.qa_pairs, len(corpus.topics()))

    # ---- models ---------------------------------------------------------------------------------------

    def list_models(self) -> list:
        """Each embedded model, its size, whether it is ready and where it lives."""
        from workbench.models import list_models

        return list_models()

    def prepare_model(self, name: str | None = None, force: bool = False) -> Path:
        """Convert an embedded generator once into the model cache (default: `models.generator`)."""
        from workbench.models import EMBEDDED_GENERATORS, prepare_generator

        name = name or self.config.models.generator
        if name not in EMBEDDED_GENERATORS:
            raise WorkbenchError(f"models.generator is '{name}', not an embedded generator: it needs no preparing "
                                 f"(name one of {', '.join(EMBEDDED_GENERATORS)})")
        return prepare_generator(name, force=force)
