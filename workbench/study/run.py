"""The steps of a study, each cached: index the folder, write questions, run the experiment in each
split design, measure the retrieval ceiling, ask again after facts change, write the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import Config, shipped_config
from workbench.corpus import QAPair, load_qa
from workbench.errors import Failure, WorkbenchError
from workbench.evaluation.evaluator import Evaluation
from workbench.experiments.cache import folder_index, key_of, settings_dump
from workbench.experiments.outputs import read_output
from workbench.experiments.runner import VariantResult, prepare, run_prepared, variant_config
from workbench.experiments.workspace import Workspace
from workbench.models.pool import ModelPool
from workbench.ondisk import exclusive, write_json
from workbench.progress import Cancelled, ProgressCallback
from workbench.requests import QuestionsRequest, StudyRequest

if TYPE_CHECKING:
    from workbench.indexing import Index


@dataclass
class DesignOutcome:
    """One split design's results: every strategy, the retrieval ceiling, and the passes asked again."""

    design: str
    folder: Path  # the experiment's results folder (summary.json, predictions, plots)
    work: Workspace | None = None
    results: list[VariantResult] = field(default_factory=list)
    retrieval: dict[str, Any] = field(default_factory=dict)  # recall@k of the gold chunk, dense and hybrid
    changed: dict[str, Any] | None = None  # when the documents change: edits and each strategy's answers
    human: dict[str, Evaluation] | None = None  # the same strategies on questions people wrote
    error: Failure | None = None  # the design could not run (too few documents to split by document, ...)


@dataclass
class StudyOutcome:
    folder: Path  # the study's folder: study.md, study.json, plots, one folder per design
    source: Path
    index: dict[str, Any]
    reindexed: str | None  # what changed in the folder since the last study, in words
    questions: Path
    question_report: dict | None
    designs: list[DesignOutcome]
    config: Config


def study_config(config: Config, smoke: bool) -> Config:
    """The session's settings with the own-documents experiment (unless the config brings its own
    `experiment:`), and its smoke settings for `--smoke`."""
    if config.experiment is None or config.experiment.task != "qa":
        config = config.merged(shipped_config("experiments/own-documents.yaml"))
    return config.updated(config.experiment.smoke.settings) if smoke else config


def study_folder(config: Config, request: StudyRequest) -> Path:
    folder = Path(request.folder).expanduser().resolve()
    return Path(request.output or Path(config.training.output_root) / "studies"
                / (folder.name + ("-smoke" if request.smoke else "")))


def run_study(config: Config, request: StudyRequest, progress: ProgressCallback | None = None,
              models: ModelPool | None = None) -> StudyOutcome:
    """Everything `wb study FOLDER` does; the report is written to `StudyOutcome.folder`."""
    from workbench.experiments.data import folder_files
    from workbench.indexing import open_index
    from workbench.study.report import write_study

    config = study_config(config, request.smoke)
    index, questions = study_questions(config, request, models, progress)
    source, output = Path(request.folder).expanduser().resolve(), study_folder(config, request)
    files = folder_files(source)
    reindexed = _reindexed(output, files)
    report = _question_report(questions)
    designs = []
    for design in config.study.designs:
        designs.append(_design(config, request, design, source, questions, output, models, progress))
    info = open_index(index.name, config.index.root).info()  # its latest version (search settings are saved with it)
    outcome = StudyOutcome(output, source, info, reindexed, questions, report, designs, config)
    write_study(outcome)
    write_json(output / "state.json", {"files": files})
    return outcome


def study_questions(config: Config, request: StudyRequest, models: ModelPool | None = None,
                    progress: ProgressCallback | None = None) -> tuple[Index, Path]:
    """The study's first steps: the folder's index, brought up to date, and the questions (`request.questions`,
    else written from the index once for its content). `config`: as `study_config` makes it."""
    request.check()
    source = Path(request.folder).expanduser().resolve()
    index, _ = folder_index(Path(config.training.output_root) / "experiment-cache", config, source, progress)
    if request.questions:
        return index, Path(request.questions)
    return index, _questions(config, index, study_folder(config, request), models, progress)


def _reindexed(output: Path, files: dict[str, str]) -> str | None:
    """What changed in the folder since the last study of it, in words (None: nothing, or no study before)."""
    state = output / "state.json"
    before = read_output(state, dict).get("files") if state.is_file() else None
    if before is None or before == files:
        return None
    added = len(files.keys() - before.keys())
    changed = sum(1 for name in files.keys() & before.keys() if files[name] != before[name])
    removed = len(before.keys() - files.keys())
    return (f"The folder changed since the last study: {added} file(s) added, {changed} changed, {removed} removed; "
            "it was re-indexed and everything that depends on it was run again.")


def _questions(config: Config, index, output: Path, models: ModelPool | None, progress: ProgressCallback | None) -> Path:
    """Questions written from the index, once for its content and these settings (a killed run resumes)."""
    from workbench.questions import generate_for, read_questions

    n, seed = config.study.questions, config.training.seed
    path = output / f"questions-{key_of(content_key(index), n, seed, config.models.generator)}.jsonl"
    with exclusive(output / "locks" / f"{path.stem}.lock"):  # a second study of the folder waits, then reuses them
        kept = read_questions(path) if path.is_file() else \
            generate_for(config, QuestionsRequest(index=index.name, output=path, n=n), models, progress)[0]
        if not kept:
            raise WorkbenchError(f"{index.name}: no question could be written from its {len(index.chunk_texts())} "
                                 "chunk(s); the documents may hold too little text (see the report beside "
                                 f"{path.name})")
    return path


def content_key(index: Index) -> str:
    """What the index holds (its chunks and embedder), not its version: saving new search settings makes a
    new version of the same content, which must not write the questions again."""
    return key_of(index.embedder_name, [(c.doc_id, c.text) for _, c in index.chunks()])


def _question_report(questions: Path) -> dict | None:
    from workbench.questions import report_file

    path = report_file(questions)
    return read_output(path, dict) if path.is_file() else None


def _design(config: Config, request: StudyRequest, design: str, source: Path, questions: Path, output: Path,
            models: ModelPool | None, progress: ProgressCallback | None) -> DesignOutcome:
    """The experiment in one split design, and what the study adds to it; a design that cannot run (a
    single document cannot be split by document) is reported with its reason."""
    folder = output / design
    values = {"experiment.data.documents": str(source), "experiment.data.questions": str(questions),
              "experiment.data.split": design, "experiment.name": f"own-documents-{design}"}
    try:
        work = prepare(config.updated(values), request.smoke, folder, progress, models)
    except WorkbenchError as exc:
        return DesignOutcome(design, folder, error=Failure.of(exc))
    results = run_prepared(work, request.smoke)
    outcome = DesignOutcome(design, folder, work, results, _retrieval_ceiling(work))
    if design == "knowledge" and config.study.changed_facts:
        outcome.changed = _changed_facts(work, results, config.study.changed_facts)
    if design == "knowledge" and request.human:
        outcome.human = _ask_again(work, results, load_qa(request.human), None, "human")
    return outcome


def _retrieval_ceiling(work: Workspace) -> dict[str, Any]:
    """recall@k of each test question's own chunk, dense and hybrid: RAG cannot beat its retriever."""
    from workbench.evaluation.retrieval import evaluate_retrieval
    from workbench.experiments.cache import ensure_index
    from workbench.indexing import open_index

    name, _ = ensure_index(work, work.config)
    index, k = open_index(name, work.config.index.root), work.config.retrieval.k
    found = {kind: evaluate_retrieval(index, work.data.test, (k,), hybrid=kind == "hybrid") for kind in ("dense", "hybrid")}
    return {"k": k, "questions": found["dense"]["questions"],
            **{kind: scores[f"recall@{k}"] for kind, scores in found.items()}}


def _changed_facts(work: Workspace, results: list[VariantResult], n: int) -> dict[str, Any]:
    """Edit the answers of up to `n` test questions in a copy of the documents, update that copy's index and
    ask every strategy again (finetuned ones are not retrained): who gives the new answer, who the old."""
    from workbench.experiments.cache import ensure_index
    from workbench.indexing import open_index
    from workbench.study.changes import edited_copy

    name, _ = ensure_index(work, work.config)
    index = open_index(name, work.config.index.root)
    copy, edits = edited_copy(index, work.data.test, n, work.config.training.seed, content_key(index))
    if not edits:
        return {"edits": [], "strategies": {}}
    asked = _ask_again(work, results, [e.question for e in edits], copy.name, "changed")
    old = {e.question.id: e.old for e in edits}
    return {"edits": [{"id": e.question.id, "question": e.question.question, "old": e.old, "new": e.new} for e in edits],
            "index": copy.name, "strategies": asked,
            "old_answers": {label: sum(_gives(row["prediction"], old[row["id"]]) and not _gives(row["prediction"], row["reference"][0])
                                       for row in evaluation.rows)
                            for label, evaluation in asked.items()}}


def _gives(prediction: str, answer: str) -> bool:
    from workbench.evaluation.metrics import answer_contained

    return bool(answer_contained(prediction, [answer]))


def _ask_again(work: Workspace, results: list[VariantResult], questions: list[QAPair], index: str | None,
               name: str) -> dict[str, Evaluation]:
    """Every variant that finished, asked `questions` (searching `index` instead of the folder's when
    given) with what it was trained on; saved per variant and reused while nothing it depends on changes."""
    from workbench.evaluation.evaluator import summarize
    from workbench.evaluation.qa import evaluate_answers
    from workbench.experiments.runner import compact
    from workbench.experiments.tasks.qa import build_strategy

    declared = {label: (spec, values) for spec in work.spec.strategies for label, values in spec.variants()}
    asked: dict[str, Evaluation] = {}
    for label in (r.label for r in results if not r.error):
        spec, values = declared[label]
        config = variant_config(work, label, values)
        key = key_of(label, settings_dump(config), spec.model_dump(), work.data.fingerprint, index,
                     [repr(q) for q in questions])
        saved = work.output / name / f"{key}.json"
        if saved.is_file():
            rows = read_output(saved, list[dict[str, Any]])
        else:
            try:
                strategy, _ = build_strategy(work, config, spec, index)
                answers = strategy.answer_many(questions, progress=work.progress)
            except Cancelled:
                raise
            except Exception:  # noqa: BLE001 - the main table already holds this variant; its row here stays empty
                continue
            rows = evaluate_answers(label, questions, answers).rows
            for row in rows:
                compact(row)
            write_json(saved, rows)
        asked[label] = Evaluation("qa", label, rows, summarize("qa", rows))
    return asked
