"""QA evaluation: run strategies over QA pairs, score every answer with the shared metrics, and save
the per-item predictions (JSONL, one file per strategy) next to a summary, so a score can always be
traced back to the answers and prompts behind it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.corpus import QAPair
from workbench.evaluation.evaluator import Evaluation, evaluate
from workbench.evaluation.metrics import mean
from workbench.ondisk import write_atomic, write_jsonl  # fsync'd temp file + rename; a full disk is a clear error
from workbench.progress import ProgressCallback
from workbench.strategies import Answer, Strategy


@dataclass(frozen=True)
class QAScores:
    strategy: str
    questions: int
    exact_match: float
    token_f1: float
    answer_contained: float
    retrieval_seconds: float  # mean per question
    generation_seconds: float  # mean per question (its share of a batch)
    tokens_in: float  # mean per question
    tokens_out: float
    questions_per_second: float  # wall clock over the whole run, batching included
    predictions: str | None = None  # the JSONL file, when saved
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # 95 % bootstrap, per metric


def answer_details(answer: Answer) -> dict:
    """What a prediction row keeps beside its scores: the question and the full Answer."""
    return {"question": answer.question, "seconds": answer.seconds, "tokens_in": answer.tokens_in,
            "answer": answer.to_dict()}


def evaluate_answers(label: str, pairs: Sequence[QAPair], answers: Sequence[Answer]) -> Evaluation:
    """The shared evaluator's rows and summary for a strategy's answers to `pairs`."""
    return evaluate("qa", label, [p.id for p in pairs], [a.text for a in answers], [list(p.answers) for p in pairs],
                    extras=[answer_details(a) for a in answers])


def evaluate_strategy(strategy: Strategy, pairs: Sequence[QAPair], output_dir: str | Path | None = None,
                      progress: ProgressCallback | None = None) -> QAScores:
    started = time.perf_counter()
    answers = strategy.answer_many(pairs, progress=progress)
    wall = time.perf_counter() - started
    evaluation = evaluate_answers(strategy.label, pairs, answers)
    saved = None
    if output_dir is not None:
        saved = Path(output_dir) / f"predictions-{file_safe(strategy.label)}.jsonl"
        write_jsonl(saved, evaluation.rows)
    summary = evaluation.summary
    return QAScores(
        strategy=strategy.label,
        questions=len(evaluation.rows),
        exact_match=summary["exact_match"].value,
        token_f1=summary["token_f1"].value,
        answer_contained=summary["answer_contained"].value,
        retrieval_seconds=mean([a.retrieval_seconds for a in answers]),
        generation_seconds=mean([a.generation_seconds for a in answers]),
        tokens_in=mean([a.tokens_in for a in answers]),
        tokens_out=mean([a.tokens_out for a in answers]),
        questions_per_second=len(answers) / wall if wall > 0 else 0.0,
        predictions=str(saved) if saved else None,
        intervals={name: (i.low, i.high) for name, i in summary.items()},
    )


def evaluate_qa(strategies: Sequence[Strategy], pairs: Sequence[QAPair], output_dir: str | Path | None = None,
                progress: ProgressCallback | None = None) -> list[QAScores]:
    """Scores per strategy; with `output_dir`, also predictions-<strategy>.jsonl and scores.json there."""
    scores = [evaluate_strategy(s, pairs, output_dir, progress) for s in strategies]
    if output_dir is not None:
        write_atomic(Path(output_dir) / "scores.json", json.dumps([asdict(s) for s in scores], indent=2) + "\n")
    return scores


def file_safe(label: str) -> str:
    """A strategy label as a file name: finetuned[lora r=8] -> finetuned_lora_r_8."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")
