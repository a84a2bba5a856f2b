"""What a caller asks for that is not a setting: which files, which index, where to write.

Settings live in the `Config`; a request names the rest. Requests are pydantic models, so a background
job stores one as JSON and runs it again in another process (`workbench.jobs`), and each checks itself
(`check()`) before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from workbench.errors import WorkbenchError
from workbench.runfolder import default_run_path

if TYPE_CHECKING:
    from workbench.config import Config


class IndexRequest(BaseModel):
    """Build index `name` from `paths` (files or folders), or from the bundled demo corpus."""

    model_config = ConfigDict(extra="forbid")
    name: str
    paths: list[Path] = Field(default_factory=list)
    demo: bool = False

    def check(self) -> None:
        if self.demo == bool(self.paths):
            raise WorkbenchError("give either files or folders to index, or the demo corpus")


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


class RunRequest(BaseModel):
    """What every training request names: its data, held-out data, run folder, and whether to resume."""

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
        return self.output or default_run_path(config.training.output_root, kind, method)


class ClassifierRequest(RunRequest):
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


class GeneratorRequest(RunRequest):
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


class RewardRequest(RunRequest):
    """Train a reward model on preference records (`prompt` or `instruction` [+ `input`], `chosen`, `rejected`)."""

    data: Path  # preference records (JSON list or JSON Lines); there is no demo set of preferences


class CompareRequest(BaseModel):
    """Run the experiment of the config's `experiment:` section (an experiment file given with
    --config); `smoke`: its tiny version; `output`: the results folder (default: experiment.output,
    else <training.output_root>/experiments/<name>)."""

    model_config = ConfigDict(extra="forbid")
    smoke: bool = False
    output: Path | None = None

    def check(self) -> None:
        """Nothing to refuse here: the experiment itself is checked when its config loads."""


class StudyRequest(BaseModel):
    """Study the documents in `folder` (`wb study FOLDER`): `questions`, a reviewed questions file written
    from them (default: written now, `study.questions` of them); `human`, questions people wrote (QA
    records), asked too so the verdicts can be checked against them; `output`, the study's folder
    (default <training.output_root>/studies/<folder name>); `smoke`, the tiny version for tests."""

    model_config = ConfigDict(extra="forbid")
    folder: Path
    questions: Path | None = None
    human: Path | None = None
    output: Path | None = None
    smoke: bool = False

    def check(self) -> None:
        if not Path(self.folder).expanduser().exists():
            raise WorkbenchError(f"{self.folder}: no such file or folder")
        for name, path in (("--questions", self.questions), ("--human", self.human)):
            if path is not None and not Path(path).is_file():
                raise WorkbenchError(f"{name} {path}: file not found")


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


ExportFormat = Literal["merged", "gguf"]
GGUFDtype = Literal["f16", "f32"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
GGUF_DTYPES: tuple[str, ...] = get_args(GGUFDtype)


class ExportRequest(BaseModel):
    """Export the finished generator run `run` (LoRA, IA3 or full finetuning) as `format`: `merged`, a
    Hugging Face model folder; `gguf`, one GGUF file in `dtype` (default f16) with an Ollama Modelfile
    beside it. `output`: the folder to write (default <training.output_root>/exports/<run>-<format>)."""

    model_config = ConfigDict(extra="forbid")
    run: Path
    format: ExportFormat
    dtype: GGUFDtype | None = None
    output: Path | None = None

    def check(self) -> None:
        if self.format == "merged" and self.dtype is not None:
            raise WorkbenchError("--dtype applies to --format gguf; a merged folder keeps the model's own precision")


@dataclass(frozen=True)
class StrategyOptions:
    """What a request names that is not a setting: which index, adapters and files. Settings (k, shots,
    generator, answer length) come from the config (`config.updated(...)` changes one for a request)."""

    index: str | None = None
    adapters: tuple[str, ...] = ()  # PATH or NAME=PATH each (adapter or run folder); finetuned strategies run once per adapter
    demonstrations: str | Path | None = None  # QA file for the few-shot pool (default: see StrategyFactory)
    prompts: str | Path | None = None  # a templates file merged over configs/prompts.yaml
    whole_replies: bool = False  # generate past the first line even when the clean-up keeps only it (summaries)
