"""Training requests end to end: read the data the request names, train with the config's settings, and
return the finished run. The session calls these, and experiments train their variants through them."""

from __future__ import annotations

from pathlib import Path

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.models.pool import ModelPool
from workbench.progress import ProgressCallback
from workbench.requests import ClassifierRequest, GeneratorRequest, RewardRequest
from workbench.runfolder import RunDir, results_folder


def train_classifier(config: Config, request: ClassifierRequest, progress: ProgressCallback | None = None) -> RunDir:
    """Train with `training.classifier` settings; returns the finished `RunDir` (its summary says how
    many texts were truncated)."""
    from workbench.corpus import load_demo_corpus, load_labeled_table
    from workbench.training.classifier import ClassifierOptions
    from workbench.training.classifier import train_classifier as train

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


def train_generator(config: Config, request: GeneratorRequest, progress: ProgressCallback | None = None,
                    models: ModelPool | None = None) -> RunDir:
    """Finetune with `training.generator` settings; returns the finished `RunDir`. The preference methods
    (`dpo`, `rloo`) read preference records and `training.preference` instead."""
    from workbench.preference import PREFERENCE_METHODS
    from workbench.training.examples import load_examples
    from workbench.training.generator import GeneratorOptions
    from workbench.training.generator import train_generator as train

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
        examples, source = _qa_examples(config, request, context, progress, models)
    else:
        examples, source = load_examples(request.data, request.format, system, **context)
    if request.format == "qa" and request.with_context != "none":
        source += (f" (context: retrieved top-{config.retrieval.k} from index '{request.index}')"
                   if request.with_context == "retrieved" else " (context: gold paragraph)")
    eval_examples = load_examples(request.eval_data, request.format, system, **context)[0] if request.eval_data else None
    options = GeneratorOptions.from_config(config, prompt_init_text=request.prompt_init_text)
    return train(examples, options, request.run_path(config, "generator", options.method), eval_examples,
                 general=_forgetting_probe(config, request), source=source, resume=request.resume, progress=progress,
                 index=request.index if request.format == "documents" or request.with_context == "retrieved" else None)


def _document_examples(config: Config, request: GeneratorRequest, progress: ProgressCallback | None) -> tuple[list, str]:
    """The text of an index's chunks, or of files chunked as `chunking` says: what continued pretraining learns."""
    from workbench.indexing.passages import document_passages
    from workbench.training.examples import document_examples

    found = document_passages(config, [request.data] if request.data else [], request.index, progress)
    return document_examples([p.text for p in found.passages]), f"documents of {found.source}"


def _qa_examples(config: Config, request: GeneratorRequest, context: dict, progress: ProgressCallback | None,
                 models: ModelPool | None) -> tuple[list, str]:
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

        engine = GenerationEngine.from_config(config, first_line_only=True, pool=models)
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
    from workbench.preference.reward import RewardOptions
    from workbench.preference.reward import train_reward as train

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
    output = Path(output or results_folder(config.training.output_root, "eval-classify"))
    predicted = result.pop("predicted")
    evaluation = evaluate("classification", Path(run).name, [str(i) for i in range(len(rows))], predicted,
                          [r.label for r in rows], extras=[{"text": r.text} for r in rows])
    result["intervals"] = {name: [i.low, i.high] for name, i in evaluation.summary.items()}
    write_jsonl(output / f"predictions-{Path(run).name}.jsonl", evaluation.rows)
    write_json(output / "scores.json", {"kind": "classify", "model": str(run), "data": str(data), **result})
    return result, output
