"""The one API under the command line, the demo, the benchmarks and the browser UI.

Every operation takes the validated `Config` (every default lives in configs/default.yaml; a caller
changes a setting with `config.updated({"training.generator.epochs": 3})`), a typed request for what
is not a setting (which files, which index, where to write), and an optional progress callback
(`workbench.progress`). Results carry their warnings (skipped files, truncated texts) instead of
only logging them. Requests are pydantic models, so a background job stores one as JSON and runs
it again in another process (`workbench.jobs`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.progress import ProgressCallback

if TYPE_CHECKING:  # imported where used: the CLI's `--help` should not wait for torch
    from workbench.estimate.advisor import Advice
    from workbench.estimate.estimator import Estimate
    from workbench.estimate.pilot import Comparison, Pilot
    from workbench.evaluation.qa import QAScores
    from workbench.indexing import Index, SearchHit, UpdateSummary
    from workbench.questions import QuestionReport
    from workbench.strategies import StrategyOptions, StrategyOutcome
    from workbench.training.runs import RunDir

# ---- indexes ------------------------------------------------------------------------------------------


class IndexRequest(BaseModel):
    """Build index `name` from `paths` (files or folders), or from the bundled demo corpus."""

    model_config = ConfigDict(extra="forbid")
    name: str
    paths: list[Path] = Field(default_factory=list)
    demo: bool = False

    def check(self) -> None:
        if self.demo == bool(self.paths):
            raise WorkbenchError("give either files or folders to index, or the demo corpus")


def build_index(config: Config, request: IndexRequest, progress: ProgressCallback | None = None) -> Index:
    """Make the index hold exactly these documents (unchanged ones are not embedded again);
    `index.last_update` says what changed, with skipped files and warnings."""
    from workbench.corpus import load_demo_corpus
    from workbench.indexing import build_index as build

    request.check()
    documents = load_demo_corpus().documents if request.demo else None
    return build(request.name, documents, sources=request.paths or None, config=config, progress=progress,
                 text_field=config.data.text_field, text_column=config.data.text_column)


def add_documents(config: Config, name: str, paths: Sequence[Path],
                  progress: ProgressCallback | None = None) -> UpdateSummary:
    """Add new files to index `name` and replace changed ones; returns the `UpdateSummary`."""
    from workbench.indexing import load_documents, open_index

    index = open_index(name, config.index.root)
    loaded = load_documents(list(paths), text_field=config.data.text_field, text_column=config.data.text_column,
                            progress=progress)
    summary = index.add(loaded.documents, embedder=config.models.embedder, progress=progress)
    return dataclasses.replace(summary, skipped_files=tuple(loaded.skipped))


def remove_document(config: Config, name: str, doc_id: str) -> UpdateSummary:
    from workbench.indexing import open_index

    return open_index(name, config.index.root).remove(doc_id)


def search(config: Config, name: str, query: str, k: int | None = None, filters: dict | None = None,
           hybrid: bool | None = None) -> list[SearchHit]:
    """The best chunks for `query` (k and hybrid default to `retrieval.*`)."""
    from workbench.indexing import open_index

    index = open_index(name, config.index.root)
    return index.search(query, k=k or config.retrieval.k, filters=filters,
                        hybrid=config.retrieval.hybrid if hybrid is None else hybrid)


# ---- answering ----------------------------------------------------------------------------------------


def ask(config: Config, question: str, strategies: Sequence[str], options: StrategyOptions | None = None,
        progress: ProgressCallback | None = None) -> list[StrategyOutcome]:
    """Every strategy answers `question`, side by side; one that fails reports its error in its own
    outcome. `options` is a `StrategyOptions` (index, adapters, ...)."""
    from workbench.strategies import StrategyFactory, StrategyOptions
    from workbench.strategies.base import as_pair

    as_pair(question)  # an empty question is one error, not one per strategy
    factory = StrategyFactory(config, options or StrategyOptions())
    return factory.answer_each(list(strategies), [question], progress=progress)


def evaluate_qa(config: Config, data: Path, strategies: Sequence[str], options: StrategyOptions | None = None,
                limit: int | None = None, output: Path | None = None,
                progress: ProgressCallback | None = None) -> tuple[list[QAScores], Path]:
    """Score strategies on the QA pairs of `data` (the first `limit`); predictions and scores.json go to
    `output` (default: <training.output_root>/eval-qa/<time>). Returns (scores, output folder)."""
    from workbench.corpus import load_qa
    from workbench.evaluation.qa import evaluate_qa as evaluate
    from workbench.strategies import StrategyFactory, StrategyOptions, parse_strategy_names

    if limit is not None and limit < 1:
        raise WorkbenchError(f"--limit must be at least 1, got {limit}")
    every_pair = load_qa(data)
    pairs = every_pair[:limit]
    # Few-shot demonstrations come from the pairs not evaluated (else from the demo corpus); FewShot
    # itself skips the evaluated question's paragraph.
    others = every_pair[len(pairs):]
    factory = StrategyFactory(config, options or StrategyOptions(), default_pool=others or None)
    built = factory.build_many(parse_strategy_names(list(strategies)))
    output = Path(output or _results_folder(config, "eval-qa"))
    return evaluate(built, pairs, output_dir=output, progress=progress), output


# ---- questions from documents -------------------------------------------------------------------------


class QuestionsRequest(BaseModel):
    """Write `n` questions from index `index`'s chunks into `output` (QA records, with a report beside it).
    `model`: the generator that writes them (default: models.generator); `seed`: default training.seed."""

    model_config = ConfigDict(extra="forbid")
    index: str
    output: Path
    n: int = Field(200, gt=0)
    model: str | None = None
    seed: int | None = None
    closed_book: bool = True  # also ask models.generator each question without context (recorded, not filtered on)
    roundtrip: bool = False  # keep only questions the writing model answers with the answer when given the chunk

    def check(self) -> None:
        if self.output.suffix not in (".jsonl", ".json"):
            raise WorkbenchError(f"--output {self.output}: give a .jsonl file (QA records, one per line)")


def generate_questions(config: Config, request: QuestionsRequest,
                       progress: ProgressCallback | None = None) -> tuple[list, QuestionReport]:
    """Questions written answer-first from the index's chunks, checked, with the shares that retrieve their
    own chunk and that the base model answers closed-book; returns (records, report). A killed run
    resumes from its work log when asked again with the same settings."""
    from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
    from workbench.indexing import open_index
    from workbench.models import load_generator
    from workbench.questions import generate

    request.check()
    index = open_index(request.index, config.index.root)
    model = request.model or config.models.generator
    settings = GenerationSettings(max_new_tokens=48, batch_size=config.generation.batch_size, first_line_only=True)
    engine = GenerationEngine(load_generator(model, config.models.device), settings)
    closed_book = None
    if request.closed_book:
        from workbench.strategies import StrategyFactory

        zero_shot = StrategyFactory(config).build("zero-shot")[0]
        closed_book = lambda questions: [a.text for a in zero_shot.answer_many(questions)]  # noqa: E731
    seed = config.training.seed if request.seed is None else request.seed
    return generate(index, request.output, request.n, seed, engine, load_prompts(), config.retrieval.k,
                    config.generation.system_prompt, closed_book, request.roundtrip, progress)


def questions_folder(config: Config) -> Path:
    """Where the browser UI keeps question files: <training.output_root>/questions."""
    return Path(config.training.output_root) / "questions"


def read_questions(path: Path) -> list:
    """The items of a generated (or reviewed) questions file, checked against its schema."""
    from workbench.questions import read_questions as read

    return read(Path(path))


def review_questions(config: Config, source: Path, decisions: dict, output: Path) -> tuple[Path, int, int]:
    """Save a review of `source` as the new file `output` (`decisions`: id → `questions.Decision`; items
    without one are kept as they are); returns (output, kept, rejected)."""
    from workbench.questions import apply_review

    return apply_review(Path(source), decisions, Path(output))


def split_questions(config: Config, source: Path, test_share: float = 0.5, by: str = "chunk",
                    seed: int | None = None) -> tuple[tuple[Path, int], tuple[Path, int]]:
    """SOURCE.train.jsonl and SOURCE.test.jsonl, whole chunks (or questions, documents) on one side each."""
    from workbench.questions import split_questions as split

    return split(Path(source), test_share, by, config.training.seed if seed is None else seed)


# ---- training -----------------------------------------------------------------------------------------


class _RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: Path | None = None  # None: the bundled demo corpus
    eval_data: Path | None = None  # None: a seeded 10 % of `data` is held out
    output: Path | None = None  # the run folder; None: a new one under training.output_root
    resume: bool = False  # continue the interrupted run in `output`

    def check(self) -> None:
        """Refuse a request that cannot run, before any work starts."""
        if self.resume and self.output is None:
            raise WorkbenchError("resuming needs the run folder to continue (--output RUN_DIR)")

    def run_path(self, config: Config, kind: str, method: str) -> Path:
        from workbench.training.runs import default_run_path

        return self.output or default_run_path(config.training.output_root, kind, method)


class ClassifierRequest(_RunRequest):
    """Train a classifier on a CSV/TSV table (columns `data.text_column`, `data.label_column`), on the demo
    corpus's paragraphs labelled by article, or (`labels`) on the passages of your documents labelled by
    their folder or a metadata key: files and folders in `data`, or index `index`; a seeded
    `test_fraction` of each class's documents is held out, so no document is both trained on and tested."""

    labels: str | None = None  # folder | metadata:KEY
    index: str | None = None
    test_fraction: float = Field(0.2, gt=0, lt=1)

    def check(self) -> None:
        super().check()
        if self.labels is None:
            if self.index:
                raise WorkbenchError("--index classifies an index's passages: say where their labels come from "
                                     "(--labels folder or --labels metadata:KEY)")
            return
        from workbench.corpus.labels import LabelSource

        LabelSource.parse(self.labels)
        if bool(self.index) == bool(self.data):
            raise WorkbenchError("--labels classifies passages of your documents: give their files or folder (--data "
                                 "PATH) or an index (--index NAME)")
        if self.eval_data:
            raise WorkbenchError("with --labels, held-out documents are the evaluation set (--test-fraction); "
                                 "--eval-data is for labelled tables")


class GeneratorRequest(_RunRequest):
    """Finetune the generator on QA pairs, Alpaca instructions or chat records (the demo QA pairs without
    data), or on documents themselves (`documents`: continued pretraining on the chunks of `index`, or of
    the files and folders in `data`)."""

    format: Literal["qa", "instruction", "chat", "documents"] = "qa"
    with_context: Literal["none", "gold", "retrieved"] = "none"
    index: str | None = None  # with_context "retrieved": the index to retrieve from (top retrieval.k); documents: whose chunks
    general_data: Path | None = None  # instructions to measure forgetting on; None: a small bundled set
    prompt_init_text: str | None = None  # prompt tuning: start the virtual tokens from this text
    paraphrases: int = Field(0, ge=0)  # qa: add this many rewordings of each training question (by models.generator)
    held_out: Path | None = None  # qa: questions the run is tested on; training pairs that would leak them are dropped

    def check(self) -> None:
        super().check()
        if self.with_context == "retrieved" and not self.index:
            raise WorkbenchError("training with retrieved context needs an index to retrieve from (--index NAME; "
                                 "build one with `wb index build`)")
        if self.format == "documents" and bool(self.index) == bool(self.data):
            raise WorkbenchError("--format documents learns the text of an index's chunks (--index NAME) or of files "
                                 "and folders (--data PATH): give one of them")
        if self.format != "qa" and (self.paraphrases or self.held_out):
            raise WorkbenchError("--paraphrases and --held-out are for question-answer data (--format qa)")


class RewardRequest(_RunRequest):
    """Train a reward model on preference records (`prompt` or `instruction` [+ `input`], `chosen`, `rejected`)."""

    data: Path  # preference records (JSON list or JSON Lines); there is no demo set of preferences


def train_classifier(config: Config, request: ClassifierRequest, progress: ProgressCallback | None = None) -> RunDir:
    """Train with `training.classifier` settings; returns the finished `RunDir` (its summary says how
    many texts were truncated)."""
    from workbench.corpus import load_demo_corpus, load_labeled_table
    from workbench.training.classifier import ClassifierOptions, train_classifier as train

    request.check()
    columns = (config.data.text_column, config.data.label_column)
    eval_rows = None
    if request.labels:
        rows, eval_rows, source = _labelled_passages(config, request, progress)
    elif request.data is None:
        rows, source = load_demo_corpus().labeled_documents(), "demo corpus (paragraph → article topic)"
    else:
        rows, source = load_labeled_table(request.data, *columns), str(request.data)
    if request.eval_data:
        eval_rows = load_labeled_table(request.eval_data, *columns)
    options = ClassifierOptions.from_config(config)
    return train([r.text for r in rows], [r.label for r in rows], options,
                 request.run_path(config, "classifier", options.method),
                 eval_texts=[r.text for r in eval_rows] if eval_rows else None,
                 eval_labels=[r.label for r in eval_rows] if eval_rows else None,
                 source=source, resume=request.resume, progress=progress)


def _labelled_passages(config: Config, request: ClassifierRequest,
                       progress: ProgressCallback | None) -> tuple[list, list, str]:
    """(training, held-out) labelled passages of the request's documents, split by document; and the source
    in words."""
    from workbench.corpus.labels import LabelSource, split_by_document
    from workbench.indexing.passages import document_passages

    found = document_passages(config, [request.data] if request.data else [], request.index, progress)
    labels = LabelSource.parse(request.labels)
    split = split_by_document([(p.doc_id, p.text, p.metadata) for p in found.passages], labels,
                              request.test_fraction, config.training.seed)
    return split.train, split.test, f"{found.source}; labels from {labels}: {split.describe()}"


def train_generator(config: Config, request: GeneratorRequest, progress: ProgressCallback | None = None) -> RunDir:
    """Finetune with `training.generator` settings; returns the finished `RunDir`. The preference methods
    (`dpo`, `rloo`) read preference records and `training.preference` instead."""
    from workbench.preference import PREFERENCE_METHODS
    from workbench.training.examples import load_examples
    from workbench.training.generator import GeneratorOptions, train_generator as train

    request.check()
    if config.training.generator.method in PREFERENCE_METHODS:
        return _train_preference(config, request, progress)
    system = config.generation.system_prompt
    index = None
    if request.with_context == "retrieved":
        from workbench.indexing import open_index

        index = open_index(request.index, root=config.index.root)
    context = {"with_context": request.with_context, "index": index, "k": config.retrieval.k}
    if request.format == "documents":
        examples, source = _document_examples(config, request, progress)
    elif request.format == "qa" and (request.paraphrases or request.held_out):
        examples, source = _qa_examples(config, request, context, progress)
    else:
        examples, source = load_examples(request.data, request.format, system, **context)
    if request.format == "qa" and request.with_context != "none":
        source += (f" (context: retrieved top-{config.retrieval.k} from index '{request.index}')"
                   if request.with_context == "retrieved" else " (context: gold paragraph)")
    eval_examples = load_examples(request.eval_data, request.format, system, **context)[0] if request.eval_data else None
    options = GeneratorOptions.from_config(config, prompt_init_text=request.prompt_init_text)
    return train(examples, options, request.run_path(config, "generator", options.method), eval_examples,
                 general=_forgetting_probe(config, request), source=source, resume=request.resume, progress=progress)


def _document_examples(config: Config, request: GeneratorRequest, progress: ProgressCallback | None) -> tuple[list, str]:
    """The text of an index's chunks, or of files chunked as `chunking` says: what continued pretraining learns."""
    from workbench.indexing.passages import document_passages
    from workbench.training.examples import document_examples

    found = document_passages(config, [request.data] if request.data else [], request.index, progress)
    return document_examples([p.text for p in found.passages]), f"documents of {found.source}"


def _qa_examples(config: Config, request: GeneratorRequest, context: dict,
                 progress: ProgressCallback | None) -> tuple[list, str]:
    """QA pairs with `paraphrases` rewordings of each question added, and without any pair that would leak
    a `held_out` question (the rewordings checked too); the source says what was added and dropped."""
    from workbench.corpus import load_demo_corpus, load_qa
    from workbench.evaluation.leakage import held_out_overlaps
    from workbench.training.examples import qa_examples

    pairs = load_qa(request.data) if request.data else load_demo_corpus().qa_pairs
    source = str(request.data or "demo corpus QA pairs")
    if request.paraphrases:
        from workbench.generation import GenerationEngine, load_prompts
        from workbench.questions import paraphrase

        engine = GenerationEngine.from_config(config, first_line_only=True)
        extra, counts = paraphrase(pairs, request.paraphrases, engine, load_prompts().questions, progress)
        pairs = pairs + extra
        source += f" + {counts['written']} paraphrases ({counts['failed']} of {counts['asked']} not kept)"
    if request.held_out:
        leaks = held_out_overlaps(pairs, load_qa(request.held_out))
        pairs = [pair for pair in pairs if pair.id not in leaks]
        source += f"; {len(leaks)} pair(s) dropped as leaking a question of {request.held_out}"
        if not pairs:
            raise WorkbenchError(f"every training pair leaks a question of {request.held_out}: nothing left to train on")
    return qa_examples(pairs, config.generation.system_prompt, **context), source


def _forgetting_probe(config: Config, request: GeneratorRequest) -> list | None:
    """The general instructions (`--general-data`, else a bundled set; the first `training.forgetting_items`
    when set) that a generator run answers before and after training, to measure forgetting; None for 0."""
    from workbench.training.examples import bundled_general_examples, load_examples

    if config.training.forgetting_items == 0:
        return None
    system = config.generation.system_prompt
    general = (load_examples(request.general_data, "instruction", system)[0] if request.general_data
               else bundled_general_examples(system))
    return general[:config.training.forgetting_items]


def _train_preference(config: Config, request: GeneratorRequest, progress: ProgressCallback | None) -> RunDir:
    from workbench.preference.policy import PreferenceOptions, train_preference

    if request.data is None:
        raise WorkbenchError(f"--method {config.training.generator.method} learns from preference records "
                             f"(prompt, chosen, rejected): pass --data FILE (the demo corpus has none)")
    records, eval_records = _preference_split(config, request.data, request.eval_data)
    options = PreferenceOptions.from_config(config)
    return train_preference(records, eval_records, options, request.run_path(config, "generator", options.method),
                            general=_forgetting_probe(config, request), source=str(request.data),
                            resume=request.resume, progress=progress)


def train_reward(config: Config, request: RewardRequest, progress: ProgressCallback | None = None) -> RunDir:
    """Train a reward model with `training.reward` settings; returns the finished `RunDir` (its summary
    holds the held-out pairwise accuracy)."""
    from workbench.preference.reward import RewardOptions, train_reward as train

    request.check()
    records, eval_records = _preference_split(config, request.data, request.eval_data)
    options = RewardOptions.from_config(config)
    return train(records, eval_records, options, request.run_path(config, "reward", options.method),
                 source=str(request.data), resume=request.resume, progress=progress)


def _preference_split(config: Config, data: Path, eval_data: Path | None) -> tuple[list, list]:
    """(training, held-out) preference records: `eval_data`, or a seeded 10 % of `data` by record."""
    from workbench.corpus import load_preferences
    from workbench.preference.data import split_records

    records = load_preferences(data)
    if eval_data is not None:
        return records, load_preferences(eval_data)
    return split_records(records, 0.1, config.training.seed)


def evaluate_classifier(config: Config, run: Path, data: Path, output: Path | None = None) -> tuple[dict, Path]:
    """Score a trained classifier on a labelled table; predictions.jsonl and scores.json go to `output`
    (default: <training.output_root>/eval-classify/<time>). Returns (scores, output folder)."""
    from workbench.corpus import load_labeled_table
    from workbench.evaluation.evaluator import evaluate
    from workbench.ondisk import write_json, write_jsonl
    from workbench.training.classifier import evaluate_classifier as evaluate_run

    rows = load_labeled_table(data, config.data.text_column, config.data.label_column)
    result = evaluate_run(run, [r.text for r in rows], [r.label for r in rows])
    output = Path(output or _results_folder(config, "eval-classify"))
    predicted = result.pop("predicted")
    evaluation = evaluate("classification", Path(run).name, [str(i) for i in range(len(rows))], predicted,
                          [r.label for r in rows], extras=[{"text": r.text} for r in rows])
    result["intervals"] = {name: [i.low, i.high] for name, i in evaluation.summary.items()}
    write_jsonl(output / f"predictions-{Path(run).name}.jsonl", evaluation.rows)
    write_json(output / "scores.json", {"kind": "classify", "model": str(run), "data": str(data), **result})
    return result, output


# ---- experiments --------------------------------------------------------------------------------------


class CompareRequest(BaseModel):
    """Run the experiment of the config's `experiment:` section (an experiment file given with
    --config); `smoke`: its tiny version; `output`: the results folder (default: experiment.output,
    else <training.output_root>/experiments/<name>)."""

    model_config = ConfigDict(extra="forbid")
    smoke: bool = False
    output: Path | None = None

    def check(self) -> None:
        """Nothing to refuse here: the experiment itself is checked when its config loads."""


def compare(config: Config, request: CompareRequest, progress: ProgressCallback | None = None) -> tuple[list, Path]:
    """Every strategy of the experiment on the same held-out items; returns (a `VariantResult` per
    variant, the results folder with summary, comparisons, plots and per-item predictions)."""
    from workbench.experiments.runner import run_experiment

    return run_experiment(config, request.smoke, request.output, progress)


def _results_folder(config: Config, kind: str) -> Path:
    """Where an evaluation writes when no folder is given: <training.output_root>/<kind>/<time> (the
    Results page lists these)."""
    return Path(config.training.output_root) / kind / time.strftime("%Y%m%d-%H%M%S")


# ---- estimates ----------------------------------------------------------------------------------------


class EstimateRequest(BaseModel):
    """Estimate the config's training setting (`training.generator` on `estimate.device`, see
    configs/default.yaml); `pilot`: that many real training steps measured here beside it; `index`: the
    corpus whose chunks set RAG's prompt length and re-embedding cost; `experiment`: a `wb compare`
    results folder whose measured quality the advisor cites; `output`: where estimate.json and the
    plots go."""

    model_config = ConfigDict(extra="forbid")
    pilot: int = Field(0, ge=0)
    index: str | None = None
    experiment: Path | None = None
    output: Path | None = None

    def check(self) -> None:
        if self.pilot and self.pilot < 3:
            raise WorkbenchError(f"--pilot {self.pilot}: give at least 3 steps (the first warms up and is not timed)")


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


def estimate(config: Config, request: EstimateRequest, progress: ProgressCallback | None = None) -> EstimateReport:
    """Memory, time and serving cost of the setting, the retrieve-or-finetune advice, and (with a
    pilot) the measurement beside the estimate."""
    from workbench.estimate.advisor import Corpus, advise
    from workbench.estimate.estimator import Setting, estimate as estimate_setting
    from workbench.estimate.pilot import compare_with_pilot, run_pilot

    request.check()
    corpus = Corpus.from_index(config, request.index) if request.index else None
    setting = Setting.from_config(config, corpus.mean_chunk_tokens if corpus else None)
    result = estimate_setting(setting)
    pilot = run_pilot(setting, request.pilot, progress) if request.pilot else None
    report = EstimateReport(result, advise(config, result, corpus, request.experiment), pilot,
                            compare_with_pilot(setting, pilot) if pilot else [])
    if request.output:
        from workbench.estimate.plots import break_even, memory_breakdown
        from workbench.experiments.report import figure_png
        from workbench.ondisk import write_atomic, write_json

        write_json(request.output / "estimate.json", report.as_dict())
        write_atomic(request.output / "memory.png", figure_png(memory_breakdown({setting.method: result})))
        write_atomic(request.output / "break-even.png", figure_png(break_even(report.advice)))
    return report
