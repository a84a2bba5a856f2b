"""Fit a prompt into the context window: the answer budget (max_new_tokens) is reserved first, then
the lowest-ranked demonstrations and sources are dropped until the prompt fits. The question itself is
never cut: if it does not fit alone, that is an error the user has to see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from workbench.errors import WorkbenchError


class QuestionTooLong(WorkbenchError):
    pass


@dataclass(frozen=True)
class FittedPrompt:
    text: str
    token_ids: list[int]
    n_demonstrations: int  # the first n of the ranked demonstrations were kept
    n_sources: int


def fit_prompt(build: Callable[[int, int], str], encode: Callable[[str], list[int]], *, limit: int,
               n_demonstrations: int, n_sources: int, window_note: str) -> FittedPrompt:
    """The fullest prompt `build(n_demonstrations, n_sources)` of at most `limit` tokens.

    Demonstrations go first (they only show the answer format), then sources, lowest-ranked first.
    `window_note` explains `limit` in the error message (e.g. "window 8192 - 64 answer tokens")."""
    for n_demos, n_sources_kept in _candidates(n_demonstrations, n_sources):
        text = build(n_demos, n_sources_kept)
        ids = encode(text)
        if len(ids) <= limit:
            return FittedPrompt(text, ids, n_demos, n_sources_kept)
    raise QuestionTooLong(
        f"the question does not fit the context window: its prompt alone is {len(ids)} tokens, "
        f"over the {limit} available ({window_note}); shorten the question, lower "
        "generation.max_new_tokens, or use a model with a longer context"
    )


def _candidates(n_demonstrations: int, n_sources: int) -> Iterator[tuple[int, int]]:
    for n in range(n_demonstrations, -1, -1):
        yield n, n_sources
    for n in range(n_sources - 1, -1, -1):
        yield 0, n
