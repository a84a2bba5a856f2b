"""What an experiment is, as the `experiment:` section of a config file.

An experiment file is a config file: its usual sections (generation, retrieval, training, ...) are
the settings every strategy shares, and its `experiment:` section says which data, which split and
which strategies. A strategy's `vary` lists values of config keys; each combination is one variant,
so `{retrieval.k: [1, 3], retrieval.hybrid: [true, false]}` is four RAG variants.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

QA_STRATEGIES = ("zero-shot", "few-shot", "rag", "finetuned", "rag+finetuned")
# classification: the generator picks the most likely label (zero-shot, few-shot, finetuned), or a
# trained classifier (training.classifier.method) predicts it
CLASSIFICATION_STRATEGIES = ("zero-shot", "few-shot", "finetuned", "classifier")
# generation (summarization, instruction following): the generator's whole reply, scored with ROUGE/BLEU/chrF
GENERATION_STRATEGIES = ("zero-shot", "few-shot", "finetuned")
# preference: the base model's reply (zero-shot) against finetuned ones (training.generator.method: lora is
# SFT on the chosen responses; dpo, rloo), judged by a reward model trained on the training pairs
PREFERENCE_STRATEGIES = ("zero-shot", "finetuned")
STRATEGIES = {"qa": QA_STRATEGIES, "classification": CLASSIFICATION_STRATEGIES, "generation": GENERATION_STRATEGIES,
              "preference": PREFERENCE_STRATEGIES}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    """`source: demo` is the bundled demo corpus; otherwise a file, relative to the current folder
    (SQuAD JSON for QA; for classification `train` and `test` tables; for generation records, in
    `source` split by `test_fraction` or in `train` and `test`; for preference, records with prompt,
    chosen and rejected, split the same way)."""

    source: str = "demo"
    train: str | None = None  # classification, generation: the file to train and draw demonstrations from
    test: str | None = None  # classification, generation: the file evaluated
    # generation: the prompt, filled from each record's fields (null: Alpaca's instruction, a blank
    # line and the input); the fields holding reference texts (each one a record has; the first is
    # what finetuning learns)
    prompt: str | None = None
    references: list[str] = Field(default_factory=lambda: ["output"], min_length=1)
    label_names: dict[str, str] = Field(default_factory=dict)  # raw label -> the word the generator scores
    # classification on your documents: passages labelled by their folder or a metadata key (`folder`,
    # `metadata:KEY`), from the files and folders in `documents` or from index `index`; split by document
    labels: str | None = None
    documents: str | None = None
    index: str | None = None
    # QA on your documents: questions written from the folder in `documents` (`wb questions generate`,
    # reviewed or not), split as `split` says; `wb study DIR` fills both in
    questions: str | None = None
    # knowledge: the test questions are held out, the documents are not (can finetuning put the facts in
    # the weights?); reading: whole documents held out (does finetuning teach the model to use what it reads?)
    split: Literal["knowledge", "reading"] = "knowledge"
    test_fraction: float = Field(0.5, gt=0, lt=1)  # QA and demo topics: share of articles held out; generation: of records
    eval_items: int | None = Field(100, gt=0)  # a seeded sample of the held-out items (null: all)
    train_items: int | None = Field(None, gt=0)  # cap on training items (null: all)
    general: str | None = None  # instructions (Alpaca JSON) to measure finetuned generators' forgetting on
    seed: int = 0


class StrategySpec(_Strict):
    strategy: str
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$")  # what the report calls it (default: the strategy)
    settings: dict[str, Any] = Field(default_factory=dict)  # config keys fixed for this strategy
    vary: dict[str, list[Any]] = Field(default_factory=dict)  # config keys whose values each make a variant
    train_context: Literal["none", "gold", "retrieved"] = "none"  # finetuned QA generators: context in training
    # finetuned QA generators on your documents: the training questions, the documents' text (continued
    # pretraining), or the documents first and the questions on top
    learns: Literal["questions", "documents", "documents+questions"] = "questions"
    paraphrases: int = Field(0, ge=0)  # rewordings of each training question added (Ovadia et al.)

    @model_validator(mode="after")
    def _training_fields_for_finetuned(self) -> StrategySpec:
        if self.strategy not in ("finetuned", "rag+finetuned") and (
                self.learns != "questions" or self.paraphrases or self.train_context != "none"):
            raise ValueError(f"{self.strategy} trains nothing: learns, paraphrases and train_context are for "
                             "finetuned and rag+finetuned")
        return self

    def variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(label, config values) for every combination of the varied keys."""
        keys = list(self.vary)
        result = []
        for values in itertools.product(*(self.vary[k] for k in keys)) if keys else [()]:
            chosen = dict(zip(keys, values))
            parts = [f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in chosen.items()]
            if self.name is None and self.strategy in ("finetuned", "rag+finetuned") and self.train_context != "none":
                parts.append(f"context={self.train_context}")
            base = self.name or self.strategy
            label = f"{base}[{','.join(parts)}]" if parts else base
            result.append((label, {**self.settings, **chosen}))
        return result


class SmokeSpec(_Strict):
    """What `--smoke` changes: a tiny version of the same experiment for tests (a few items, the index
    over their paragraphs only, each strategy's first variant unless `variants: all`)."""

    eval_items: int = Field(6, gt=0)
    train_items: int = Field(24, gt=0)
    variants: Literal["first", "all"] = "first"  # first: each strategy's first variant only (a quick check)
    settings: dict[str, Any] = Field(default_factory=lambda: {"training.max_steps": 2, "generation.max_new_tokens": 8})


class ExperimentSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    task: Literal["qa", "classification", "generation", "preference"]
    data: DataSpec = Field(default_factory=DataSpec)
    strategies: list[StrategySpec] = Field(min_length=1)
    output: Path | None = None  # results folder; null: <training.output_root>/experiments/<name>
    smoke: SmokeSpec = Field(default_factory=SmokeSpec)

    @model_validator(mode="after")
    def _known_strategies(self) -> ExperimentSpec:
        known = STRATEGIES[self.task]
        unknown = [s.strategy for s in self.strategies if s.strategy not in known]
        if unknown:
            raise ValueError(f"unknown {self.task} strateg{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(unknown)} (known: {', '.join(known)})")
        labels = [label for s in self.strategies for label, _ in s.variants()]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"two strategies would both be called {', '.join(repeated)}: vary a setting or drop one")
        return self


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "+".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)
