"""An experiment's results folder: the summary with intervals (CSV, Markdown, JSON), the paired
comparison of every two strategies in words, the plots (quality with intervals; quality against
each cost with the frontier marked), the resolved config and the software versions."""

from __future__ import annotations

import csv
import io
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from workbench.evaluation.evaluator import TASKS, summarize
from workbench.evaluation.statistics import PairedComparison, compare_pairs
from workbench.figures import figure_png
from workbench.ondisk import conform, write_atomic, write_json
from workbench.summary import SUMMARY, Summary

if TYPE_CHECKING:
    from workbench.experiments.runner import VariantResult
    from workbench.experiments.workspace import Workspace

PACKAGES = ("workbench", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "scikit-learn",
            "rouge-score", "sacrebleu", "numpy", "scipy")
COST_LABELS = {"setup_seconds": "setup time (s)", "trainable_parameters": "trainable parameters",
               "latency_seconds": "latency per item (s)", "prompt_tokens": "prompt tokens per item"}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        found["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                             cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        found["git_commit"] = None
    return found


def summary_rows(work: Workspace, results: list[VariantResult]) -> list[dict]:
    """One row per variant: every metric with its interval, the primary metric on leak-free items
    only (when some items overlap what was learned), the costs, and the error if it failed."""
    task = work.spec.task
    rows = []
    for result in results:
        row: dict = {"strategy": result.label, "kind": result.strategy, "n": len(result.evaluation.rows)}
        for name, interval in result.evaluation.summary.items():
            row[name], row[f"{name}_low"], row[f"{name}_high"] = interval.value, interval.low, interval.high
        clean = [r for r in result.evaluation.rows if not r.get("leak")]
        if work.leaks and clean:
            row[f"{TASKS[task].primary}_leak_free"] = summarize(task, clean)[TASKS[task].primary].value
        row.update(result.costs)
        row["error"] = result.error.describe() if result.error else None
        rows.append(row)
    return rows


def comparisons(work: Workspace, results: list[VariantResult]) -> list[PairedComparison]:
    task = TASKS[work.spec.task]
    scored = {r.label: r.evaluation.scores(task.primary) for r in results if r.evaluation.rows}
    return compare_pairs(scored, task.primary, task.primary in task.binary) if len(scored) > 1 else []


def write_report(work: Workspace, results: list[VariantResult]) -> None:
    output, metric = work.output, TASKS[work.spec.task].primary
    rows = summary_rows(work, results)
    pairs = comparisons(work, results)
    summary = {"experiment": work.spec.name, "task": work.spec.task, "primary_metric": metric,
               "items": {"train": len(work.data.train), "test": len(work.data.test)},
               "leaks": work.leaks, "strategies": rows, "comparisons": [p.to_dict() for p in pairs]}
    conform(Summary, summary)  # what the pages and `wb estimate --experiment` will expect of it
    write_json(output / SUMMARY, summary)
    write_atomic(output / "summary.csv", _csv(rows))
    write_atomic(output / "comparisons.csv", _csv([p.to_dict() | {"difference": p.difference.value,
                                                                   "low": p.difference.low, "high": p.difference.high}
                                                   for p in pairs]))
    write_atomic(output / "resolved.yaml", yaml.safe_dump(work.config.model_dump(mode="json"), sort_keys=False))
    write_json(output / "versions.json", versions())
    plotted = [r for r in results if r.evaluation.rows]
    if plotted:
        write_atomic(output / "quality.png", quality_plot(plotted, metric))
        write_atomic(output / "cost.png", cost_plot(plotted, metric))
    write_atomic(output / "summary.md", markdown(work, rows, pairs))


def _csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _rouge_change(row: dict) -> str:
    if row.get("general_rougeL_before") is None:
        return ""
    return (f"; ROUGE-L {row['general_rougeL_before']:.3f} → {row['general_rougeL_after']:.3f} "
            f"(p = {row['general_rougeL_change_p']:.3g})")


def _engine(config) -> str:
    """Which engine generated the answers (generation.backend): LoRA runs and base-model strategies on an
    OpenAI-compatible server, the other finetuned runs on the local engine."""
    if config.generation.backend == "openai":
        return (f"{config.models.generator} on the OpenAI-compatible server at {config.generation.openai.url} "
                "(LoRA runs by their served names; other finetuned runs on this process's engine)")
    return f"{config.models.generator} on this process's engine"


def markdown(work: Workspace, rows: list[dict], pairs: list[PairedComparison]) -> str:
    spec, task = work.spec, work.spec.task
    metric = TASKS[task].primary
    columns = list(dict.fromkeys(k for row in rows for k in row))
    others = [k.removesuffix("_low") for k in columns if k.endswith("_low") and k != f"{metric}_low"]
    others += [k for k in columns if k.endswith("_leak_free")]
    lines = [f"# Experiment `{spec.name}`", "", spec.description.strip(), "",
             f"Task: {task}. Items: {len(work.data.train)} to train on (and draw demonstrations from), "
             f"{len(work.data.test)} evaluated, the same for every strategy. Intervals: 95 % bootstrap. "
             f"Leakage guard: {len(work.leaks)} evaluated item(s) overlap what strategies learn from"
             + (" (scored with and without them)." if work.leaks else ".") + f" Generation: {_engine(work.config)}.", "",
             "| strategy | n | " + metric + " [95 % CI] | " + " | ".join(others) + " | "
             + " | ".join(COST_LABELS.values()) + " |",
             "|---" * (3 + len(others) + len(COST_LABELS)) + "|"]
    for row in rows:
        if row["error"]:
            lines.append(f"| {row['strategy']} | failed: {row['error']} |" + " |" * (1 + len(others) + len(COST_LABELS)))
            continue
        interval = f"{row[metric]:.3f} [{row[f'{metric}_low']:.3f}, {row[f'{metric}_high']:.3f}]"
        lines.append(f"| {row['strategy']} | {row['n']} | {interval} | "
                     + " | ".join(_number(row.get(k)) for k in others) + " | "
                     + " | ".join(_number(row.get(k)) for k in COST_LABELS) + " |")
    lossy = [r for r in rows if r.get("training_examples_dropped")]
    if lossy:
        lines += ["", "Training examples dropped (no answer left within max_length): "
                  + ", ".join(f"{r['strategy']}: {r['training_examples_dropped']}" for r in lossy) + "."]
    forgetting = [r for r in rows if r.get("general_loss_change") is not None]
    if forgetting:
        lines += ["", "Forgetting: each finetuned generator on general instructions against the base model: the "
                  "change of its completion loss (higher: more forgotten) and its replies' ROUGE-L before → after "
                  "(paired bootstrap).", ""]
        lines += [f"- {r['strategy']}: loss {r['general_loss_change']:+.3f}" + _rouge_change(r) for r in forgetting]
    lines += ["", f"## Paired comparisons ({metric}; Holm-corrected over {len(pairs)} pairs)", ""]
    ordered = sorted(pairs, key=lambda p: (not p.significant, p.p_holm))
    lines += [f"- {p.verdict()} ({p.test}, p = {p.p_value:.3g}, corrected {p.p_holm:.3g})" for p in ordered]
    matrix = paired_matrix([p.to_dict() for p in pairs])
    if matrix:
        names = list(matrix)
        lines += ["", f"Row minus column, mean {metric} difference (* where the corrected test finds it):", "",
                  "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {a} | " + " | ".join(matrix[a].get(b, "") for b in names) + " |" for a in names]
    lines += ["", "![quality](quality.png)", "", "![quality against cost](cost.png)", ""]
    return "\n".join(lines)


def paired_matrix(comparisons: list[dict]) -> dict[str, dict[str, str]]:
    """Row strategy minus column strategy: the difference, starred where the corrected test finds it
    (from `PairedComparison.to_dict()` rows, as summary.json stores them)."""
    matrix: dict[str, dict[str, str]] = {}
    for c in comparisons:
        d, mark = c["difference"]["value"], " *" if c["significant"] else ""
        matrix.setdefault(c["a"], {})[c["b"]] = f"{d:+.3f}{mark}"
        matrix.setdefault(c["b"], {})[c["a"]] = f"{-d:+.3f}{mark}"
    return matrix


def quality_plot(results: list[VariantResult], metric: str) -> bytes:
    from matplotlib.figure import Figure

    ordered = sorted(results, key=lambda r: r.evaluation.summary[metric].value)
    figure = Figure(figsize=(7, 0.45 * len(ordered) + 1.2))
    axes = figure.subplots()
    values = [r.evaluation.summary[metric] for r in ordered]
    axes.errorbar([v.value for v in values], range(len(values)),
                  xerr=[[v.value - v.low for v in values], [v.high - v.value for v in values]],
                  fmt="o", capsize=4)
    axes.set_yticks(range(len(values)), [r.label for r in ordered])
    axes.set_xlabel(f"{metric} (95 % bootstrap interval)")
    axes.grid(axis="x", alpha=0.3)
    return figure_png(figure)


def frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower cost, higher quality)."""
    return [i for i, (cost, quality) in enumerate(points)
            if not any(c <= cost and q >= quality and (c, q) != (cost, quality) for c, q in points)]


def cost_plot(results: list[VariantResult], metric: str) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5 * len(COST_LABELS), 4), layout="constrained")
    for axes, (cost, label) in zip(figure.subplots(1, len(COST_LABELS), sharey=True), COST_LABELS.items()):
        shown = [r for r in results if r.costs.get(cost) is not None]
        points = [(float(r.costs[cost]), r.evaluation.summary[metric].value) for r in shown]
        best = set(frontier(points))
        for i, (r, (x, y)) in enumerate(zip(shown, points)):
            axes.scatter([x], [y], color="tab:red" if i in best else "tab:blue", zorder=3)
            axes.annotate(r.label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        line = sorted(points[i] for i in best)
        if line:
            axes.plot([p[0] for p in line], [p[1] for p in line], color="tab:red", alpha=0.4, drawstyle="steps-post")
        if cost in ("trainable_parameters", "setup_seconds") and any(x > 0 for x, _ in points):
            axes.set_xscale("symlog")
        axes.set_xlabel(label)
        axes.margins(x=0.25, y=0.1)  # room for the labels beside the points
        if axes.get_xscale() == "symlog":
            axes.set_xlim(left=-0.5)  # costs are never negative
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel(metric)  # one quality axis, shared
    figure.suptitle("quality against cost (red: the frontier)")
    return figure_png(figure)
