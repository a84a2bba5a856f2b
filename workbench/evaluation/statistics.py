"""How sure a comparison is: bootstrap intervals, paired tests between strategies, Holm's correction.

Every strategy of an experiment answers the *same* items, so two strategies are compared item by
item (paired): McNemar's exact test for 0/1 metrics (exact match, accuracy), a paired bootstrap for
graded ones (token F1, ROUGE). With many pairs some look different by chance; Holm's step-down
correction keeps the chance of any false "A beats B" under alpha. Where the corrected test finds
nothing, the verdict says so and gives the smallest difference this many items could have detected.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % percentile-bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(n: int, statistic: Callable[[np.ndarray], float], resamples: int = RESAMPLES,
              seed: int = 0) -> Interval:
    """`statistic(indices)` on all n items, with the 2.5th and 97.5th percentiles of the statistic over
    `resamples` resamplings of the items with replacement. A statistic of indices covers corpus-level
    metrics (macro-F1, corpus BLEU) as well as means."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    replicates = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)])
    low, high = np.percentile(replicates, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Interval(float(statistic(np.arange(n))), float(low), float(high))


def mean_interval(values: Sequence[float], seed: int = 0) -> Interval:
    array = np.asarray(values, dtype=float)
    if len(array) == 0:
        return Interval(math.nan, math.nan, math.nan)
    # resample the mean in one vectorized draw (fast for the thousands of items an experiment has)
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, len(array), (RESAMPLES, len(array)))].mean(axis=1)
    low, high = np.percentile(means, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Interval(float(array.mean()), float(low), float(high))


def mcnemar_p(a: Sequence[float], b: Sequence[float]) -> float:
    """McNemar's exact test: only the items where exactly one of the two is right count; under no
    difference each such item is a fair coin toss."""
    from scipy.stats import binomtest

    a_only = sum(x == 1 and y == 0 for x, y in zip(a, b))
    b_only = sum(x == 0 and y == 1 for x, y in zip(a, b))
    if a_only + b_only == 0:
        return 1.0
    return float(binomtest(a_only, a_only + b_only, 0.5).pvalue)


def paired_bootstrap_p(differences: np.ndarray, seed: int = 0) -> float:
    """Two-sided p-value of a zero mean difference: how often the recentred bootstrap mean is as far
    from zero as the observed one (counted with the observed sample, so never below 1 / (resamples + 1))."""
    observed = differences.mean()
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (RESAMPLES, len(differences)))].mean(axis=1)
    extreme = int((np.abs(means - observed) >= abs(observed)).sum())
    return min(1.0, (extreme + 1) / (RESAMPLES + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def detectable_difference(differences: np.ndarray) -> float:
    """The smallest true mean difference that a test at alpha 0.05 finds 80 % of the time with this
    many items and this spread of per-item differences (normal approximation)."""
    from scipy.stats import norm

    if len(differences) < 2:
        return math.inf
    spread = differences.std(ddof=1)
    if spread == 0:  # identical on every item: use the spread one disagreement would bring
        spread = math.sqrt(1 / len(differences))
    return float((norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)) * spread / math.sqrt(len(differences)))


@dataclass(frozen=True)
class PairedComparison:
    """Strategy `a` against `b` on one metric over the same n items: mean(a - b) with its interval."""

    a: str
    b: str
    metric: str
    n: int
    difference: Interval
    test: str  # "McNemar" or "paired bootstrap"
    p_value: float
    p_holm: float  # corrected over every pair of the comparison
    detectable: float

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    def verdict(self) -> str:
        """'A beats B by +0.21 F1 [0.15, 0.27]' only where the corrected test says so."""
        if not self.significant:
            return (f"no detectable difference between {self.a} and {self.b} at n = {self.n} "
                    f"(the smallest {self.metric} difference this n detects: about {self.detectable:.3f})")
        d = self.difference
        if d.value >= 0:
            return f"{self.a} beats {self.b} by {d.value:+.3f} {self.metric} [{d.low:+.3f}, {d.high:+.3f}]"
        return f"{self.b} beats {self.a} by {-d.value:+.3f} {self.metric} [{-d.high:+.3f}, {-d.low:+.3f}]"

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict()}


def compare_pairs(scores: Mapping[str, Sequence[float]], metric: str, binary: bool,
                  seed: int = 0) -> list[PairedComparison]:
    """Every pair of strategies on per-item `scores` (same items, same order), Holm-corrected together.
    `binary`: the metric is 0 or 1 per item (McNemar), else graded (paired bootstrap)."""
    raw = []
    for a, b in itertools.combinations(scores, 2):
        x, y = np.asarray(scores[a], dtype=float), np.asarray(scores[b], dtype=float)
        if len(x) != len(y):
            raise ValueError(f"{a} has {len(x)} scored items and {b} {len(y)}: a paired test needs the same items")
        differences = x - y
        p = mcnemar_p(x, y) if binary else paired_bootstrap_p(differences, seed)
        raw.append((a, b, differences, "McNemar" if binary else "paired bootstrap", p))
    corrected = holm([p for *_, p in raw])
    return [PairedComparison(a, b, metric, len(d), mean_interval(d, seed), test, p, p_holm, detectable_difference(d))
            for (a, b, d, test, p), p_holm in zip(raw, corrected)]
