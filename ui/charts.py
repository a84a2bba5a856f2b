"""The plots the pages show (matplotlib): training curves and one bar chart per metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib import rcParams
from matplotlib.figure import Figure

# Figures are made without pyplot: pyplot keeps every figure until closed and is not thread-safe,
# and a server draws charts for many sessions, once a second while a job runs.


def loss_curves(runs: Mapping[str, tuple[Sequence[Sequence[float]], Sequence[Mapping[str, float]]]]) -> Figure:
    """Training loss per step (lines) and eval loss per epoch (markers), one colour per run."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    for colour, (label, (curve, evaluations)) in zip(rcParams["axes.prop_cycle"].by_key()["color"] * 10,
                                                      runs.items()):
        if curve:
            axes.plot([p[0] for p in curve], [p[1] for p in curve], color=colour, alpha=0.8, label=f"{label} train")
        points = [(e["step"], e["eval_loss"]) for e in evaluations if "step" in e and "eval_loss" in e]
        if points:
            axes.plot(*zip(*points), "o--", color=colour, label=f"{label} eval")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if axes.has_data():
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def metric_bars(values: Mapping[str, float], metric: str) -> Figure:
    """One bar per strategy (or model) for `metric`."""
    figure = Figure(figsize=(6, 0.45 * len(values) + 1))
    axes = figure.subplots()
    labels = list(values)
    axes.barh(labels, [values[label] for label in labels], color="#4c78a8")
    axes.invert_yaxis()
    axes.set_xlabel(metric)
    for y, label in enumerate(labels):
        axes.text(values[label], y, f" {values[label]:.3f}", va="center", fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure
