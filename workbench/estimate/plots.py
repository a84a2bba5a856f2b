"""The estimate's pictures (matplotlib, without pyplot: the UI draws them in a long-lived server)."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from workbench.estimate.advisor import Advice
from workbench.estimate.estimator import Estimate

GIB = 2**30


def memory_breakdown(estimates: Mapping[str, Estimate]) -> Figure:
    """Peak training memory of each estimate as a bar stacked by part, with the device's memory marked."""
    figure = Figure(figsize=(7, 0.6 * len(estimates) + 1.6), layout="constrained")
    axes = figure.subplots()
    labels = list(estimates)
    parts = list(dict.fromkeys(part for e in estimates.values() for part in e.memory))
    left = [0.0] * len(labels)
    for part in parts:
        sizes = [estimates[label].memory.get(part, 0) / GIB for label in labels]
        axes.barh(labels, sizes, left=left, label=part)
        left = [a + b for a, b in zip(left, sizes)]
    devices = {e.device.name: e.device.memory_bytes / GIB for e in estimates.values()}
    for name, size in devices.items():
        if size < 4 * max(left):  # mark the device's memory only where it is on the scale
            axes.axvline(size, color="black", linestyle="--", linewidth=1)
            axes.annotate(f"{name} {size:.0f} GiB", (size, 1), xycoords=("data", "axes fraction"),
                          xytext=(3, -12), textcoords="offset points", fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("peak memory of a training step (GiB)")
    axes.legend(fontsize=8, loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    return figure


def break_even(advice: Advice) -> Figure:
    """Cumulative cost of each strategy over the horizon: where lines cross, the cheaper one changes."""
    figure = Figure(figsize=(7, 3.4), layout="constrained")
    axes = figure.subplots()
    for name, costs in advice.cumulative_cost.items():
        label = name
        if name in advice.quality:
            q = advice.quality[name]
            label += f" ({q.metric} {q.value:.2f} [{q.low:.2f}, {q.high:.2f}])"
        axes.plot(advice.days, costs, label=label)
    axes.set_xlabel("days")
    axes.set_ylabel("cumulative cost (USD)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure
