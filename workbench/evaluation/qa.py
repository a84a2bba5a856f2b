"""QA evaluation: run strategies over QA pairs, score every answer with the shared metrics, and save
the per-item predictions (JSONL, one file per strategy) next to a summary, so a score can always be
traced back to the answers and prompts behind it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.corpus import QAPair
from workbench.progress import ProgressCallback
from workbench.evaluation.metrics import answer_contained, exact_match, mean, token_f1
from workbench.strategies import Answer, Strategy
from workbench.training.runs import write_atomic, write_jsonl  # fsync'd temp file + rename; a full disk is a clear error


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


def score_item(pair: QAPair, answer: Answer) -> dict:
    """One prediction line: the question, the gold answers, the scores, and the full Answer."""
    return {
        "id": pair.id,
        "question": pair.question,
        "answers": list(pair.answers),
        "prediction": answer.text,
        "exact_match": exact_match(answer.text, pair.answers),
        "token_f1": token_f1(answer.text, pair.answers),
        "answer_contained": answer_contained(answer.text, pair.answers),
        "answer": answer.to_dict(),
    }


def evaluate_strategy(strategy: Strategy, pairs: Sequence[QAPair], output_dir: str | Path | None = None,
                      progress: ProgressCallback | None = None) -> QAScores:
    started = time.perf_counter()
    answers = strategy.answer_many(pairs, progress=progress)
    wall = time.perf_counter() - started
    items = [score_item(pair, answer) for pair, answer in zip(pairs, answers)]
    saved = None
    if output_dir is not None:
        saved = Path(output_dir) / f"predictions-{_file_safe(strategy.label)}.jsonl"
        write_jsonl(saved, items)
    return QAScores(
        strategy=strategy.label,
        questions=len(items),
        exact_match=mean([i["exact_match"] for i in items]),
        token_f1=mean([i["token_f1"] for i in items]),
        answer_contained=mean([i["answer_contained"] for i in items]),
        retrieval_seconds=mean([a.retrieval_seconds for a in answers]),
        generation_seconds=mean([a.generation_seconds for a in answers]),
        tokens_in=mean([a.tokens_in for a in answers]),
        tokens_out=mean([a.tokens_out for a in answers]),
        questions_per_second=len(items) / wall if wall > 0 else 0.0,
        predictions=str(saved) if saved else None,
    )


def evaluate_qa(strategies: Sequence[Strategy], pairs: Sequence[QAPair], output_dir: str | Path | None = None,
                progress: ProgressCallback | None = None) -> list[QAScores]:
    """Scores per strategy; with `output_dir`, also predictions-<strategy>.jsonl and scores.json there."""
    scores = [evaluate_strategy(s, pairs, output_dir, progress) for s in strategies]
    if output_dir is not None:
        write_atomic(Path(output_dir) / "scores.json", json.dumps([asdict(s) for s in scores], indent=2) + "\n")
    return scores


def _file_safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")
