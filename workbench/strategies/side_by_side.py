"""Side by side in one pass: every strategy's prompt for the same questions, generated together.

Asking five strategies one question used to run five generations one after another. Strategies that
answer with the same engine now share one batched generation when their adapters allow it: the base
model's strategies (zero-shot, few-shot, RAG) and LoRA adapters beside them (peft's mixed-adapter
batches route each row through its own adapter). Other adapters (prompt or prefix tuning, IA3,
bottleneck) and fully finetuned models get a batch of their own. Under greedy decoding every answer
equals the one its strategy gives alone (tested); `generation_seconds` is its share of the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from workbench.progress import ProgressCallback
from workbench.strategies.answer import Answer
from workbench.strategies.base import Prompted, Question, Strategy


def answer_together(strategies: Sequence[Strategy], questions: Sequence[Question],
                    progress: ProgressCallback | None = None) -> list[list[Answer] | Exception]:
    """Every strategy's answers to `questions`, in order, or the error that stopped it (the others
    still answer)."""
    results: list[list[Answer] | Exception] = [[] for _ in strategies]
    prompted = _prompt_each(strategies, questions, results)
    for group in share_batches(strategies, prompted):
        rows = [(position, item) for position in group for item in prompted[position]]
        engine = strategies[group[0]].engine
        try:
            generations = engine.generate([item.prompt.token_ids for _, item in rows],
                                          adapter=[strategies[position].adapter_key for position, _ in rows],
                                          progress=progress)
        except Exception as exc:  # noqa: BLE001 - reported in each column of the batch
            for position in group:
                results[position] = exc
            continue
        for (position, item), generation in zip(rows, generations):
            results[position].append(strategies[position].finish(item, generation))
    return results


def stream_together(strategies: Sequence[Strategy], question: Question) -> Iterator[tuple[int, str | Answer | Exception]]:
    """The side-by-side view's stream: (strategy position, text piece) as the answers are generated,
    then (position, finished Answer) for each, or (position, error) for a strategy that failed."""
    failed: list[list[Answer] | Exception] = [[] for _ in strategies]
    prompted = _prompt_each(strategies, [question], failed)
    for position, outcome in enumerate(failed):
        if isinstance(outcome, Exception):
            yield position, outcome
    for group in share_batches(strategies, prompted):
        engine = strategies[group[0]].engine
        finished: set[int] = set()
        try:
            stream = engine.stream_rows([prompted[p][0].prompt.token_ids for p in group],
                                        adapter=[strategies[p].adapter_key for p in group])
            for row, item in stream:
                position = group[row]
                if isinstance(item, str):
                    yield position, item
                else:
                    finished.add(position)
                    yield position, strategies[position].finish(prompted[position][0], item)
        except Exception as exc:  # noqa: BLE001 - reported in each column of the batch
            for position in group:
                if position not in finished:
                    yield position, exc


def share_batches(strategies: Sequence[Strategy], prompted: dict[int, list[Prompted]]) -> list[list[int]]:
    """The positions (among those in `prompted`) of the strategies that generate in one batch: the
    same engine, and adapters it can mix."""
    groups: list[list[int]] = []
    for position in prompted:
        strategy = strategies[position]
        for group in groups:
            keys = [strategies[p].adapter_key for p in group] + [strategy.adapter_key]
            if strategies[group[0]].engine is strategy.engine and strategy.engine.can_share_batch(keys):
                group.append(position)
                break
        else:
            groups.append([position])
    return groups


def _prompt_each(strategies: Sequence[Strategy], questions: Sequence[Question],
                 results: list[list[Answer] | Exception]) -> dict[int, list[Prompted]]:
    """Each strategy's prompts, by position; a strategy that cannot prompt (no index, an adapter
    that did not load...) gets its error in `results`."""
    prompted = {}
    for position, strategy in enumerate(strategies):
        try:
            prompted[position] = strategy.prompted(questions)
        except Exception as exc:  # noqa: BLE001 - one broken strategy must not hide the others
            results[position] = exc
    return prompted
