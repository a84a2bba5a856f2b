"""The leakage guard on planted duplicates."""

from __future__ import annotations

from workbench.evaluation.leakage import find_overlaps

TRAIN = ["The harbour of Port Ellen opens at dawn and closes at dusk every single day of the year, rain or shine.",
         "Who built the lighthouse?"]


def test_planted_duplicates_are_found_and_near_misses_are_not():
    evaluated = [
        "WHO built the lighthouse",  # same text once normalized
        "Fishermen say the harbour of port ellen opens at dawn and closes at dusk every single day of the year.",
        "the harbour of Port Ellen opens at dawn and closes at dusk every",  # 12 shared words only (articles drop)
        "Where is the ferry terminal?",
    ]
    overlaps = find_overlaps(evaluated, TRAIN)
    assert overlaps[0] == ["same text"]
    assert len(overlaps[1]) == 1 and overlaps[1][0].startswith("shares a 13-word sequence: ")
    assert "opens at dawn and closes at dusk" in overlaps[1][0]
    assert overlaps[2] == [] and overlaps[3] == []
