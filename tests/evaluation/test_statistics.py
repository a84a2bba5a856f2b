"""Intervals and paired tests on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.evaluation.statistics import compare_pairs, holm, mcnemar_p, mean_interval


def test_bootstrap_interval_of_a_proportion_matches_the_normal_approximation():
    values = [1.0] * 200 + [0.0] * 200  # p = 0.5, n = 400: 1.96 * sqrt(.25 / 400) = 0.049
    interval = mean_interval(values)
    assert interval.value == 0.5
    assert interval.low == pytest.approx(0.451, abs=0.01) and interval.high == pytest.approx(0.549, abs=0.01)


def test_mcnemar_by_hand():
    # 10 items only a gets right, 2 only b: two-sided exact binomial 2 * (1 + 12 + 66) / 4096
    a = [1] * 10 + [0] * 2 + [1] * 30 + [0] * 8
    b = [0] * 10 + [1] * 2 + [1] * 30 + [0] * 8
    assert mcnemar_p(a, b) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_p(a, a) == 1.0


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_a_real_difference_is_found_with_an_interval_around_it():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 300)
    better = np.clip(base + 0.2 + rng.normal(0, 0.1, 300), 0, 2)
    (comparison,) = compare_pairs({"rag": better, "zero-shot": base}, "F1", binary=False)
    assert comparison.significant and comparison.test == "paired bootstrap"
    assert comparison.difference.low < 0.2 < comparison.difference.high
    assert comparison.verdict().startswith("rag beats zero-shot by +0.")
    (flipped,) = compare_pairs({"zero-shot": base, "rag": better}, "F1", binary=False)
    assert flipped.verdict().startswith("rag beats zero-shot by +0.")  # the winner is named, not the order


def test_no_difference_is_reported_as_such_with_the_detectable_size():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 2, 100).astype(float), rng.integers(0, 2, 100).astype(float)
    (comparison,) = compare_pairs({"a": a, "b": b}, "accuracy", binary=True)
    assert comparison.test == "McNemar" and not comparison.significant
    assert comparison.verdict().startswith("no detectable difference between a and b at n = 100")
    assert 0.15 < comparison.detectable < 0.3  # 2.8 * sd(diff) / sqrt(n), sd about 0.7


def test_paired_bootstrap_false_alarms_stay_near_alpha():
    rng = np.random.default_rng(3)
    alarms = 0
    for _ in range(200):
        shared = rng.uniform(0, 1, 80)  # two strategies with the same expected score on the same items
        (c,) = compare_pairs({"a": shared + rng.normal(0, 0.2, 80), "b": shared + rng.normal(0, 0.2, 80)}, "F1",
                             binary=False, seed=int(rng.integers(1 << 30)))
        alarms += c.significant
    assert alarms / 200 < 0.1


def test_holm_correction_applies_across_every_pair():
    rng = np.random.default_rng(4)
    scores = {name: rng.uniform(0, 1, 50) for name in "abcde"}
    comparisons = compare_pairs(scores, "F1", binary=False)
    assert len(comparisons) == 10
    assert all(c.p_holm >= c.p_value for c in comparisons)
    with pytest.raises(ValueError, match="same items"):
        compare_pairs({"a": [1.0, 0.0], "b": [1.0]}, "F1", binary=True)
