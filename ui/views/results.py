"""Results: the folders `wb eval qa` and `wb eval classify` write, as a summary table, a bar chart per
metric, and the per-item predictions, filterable to the items where strategies disagree."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from ui import charts, common
from workbench.evaluation.metrics import normalize_answer

QA_METRICS = ("exact_match", "token_f1", "answer_contained")
CLASSIFY_METRICS = ("accuracy", "macro_f1")


def result_folders(cfg) -> list[Path]:
    root = Path(cfg.training.output_root)
    folders = [p for kind in ("eval-qa", "eval-classify") for p in (root / kind).glob("*") if (p / "scores.json").is_file()]
    return sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)


def predictions(folder: Path) -> dict[str, list[dict]]:
    """predictions-<name>.jsonl per strategy (or classifier run), by name."""
    return {path.stem.removeprefix("predictions-"): [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for path in sorted(folder.glob("predictions-*.jsonl"))}


def qa_results(folder: Path) -> None:
    scores = json.loads((folder / "scores.json").read_text())
    st.dataframe([{k: v for k, v in s.items() if k != "predictions"} for s in scores], hide_index=True,
                 use_container_width=True)
    columns = st.columns(len(QA_METRICS))
    for column, metric in zip(columns, QA_METRICS):
        column.pyplot(charts.metric_bars({s["strategy"]: s[metric] for s in scores}, metric), clear_figure=True)
    items = predictions(folder)
    st.subheader("Per question")
    only_disagreements = st.toggle("Only where strategies disagree", value=False)
    rows = []
    for position, first in enumerate(next(iter(items.values()), [])):
        answers = {name: rows_[position] for name, rows_ in items.items() if position < len(rows_)}
        distinct = {normalize_answer(a["prediction"]) for a in answers.values()}
        if only_disagreements and len(distinct) < 2:
            continue
        row = {"question": first["question"], "gold": " | ".join(first["reference"])}
        for name, answer in answers.items():
            row[name] = answer["prediction"]
            row[f"{name} F1"] = round(answer["token_f1"], 3)
        rows.append(row)
    st.caption(f"{len(rows)} question(s)")
    st.dataframe(rows, hide_index=True, use_container_width=True)


def classify_results(folder: Path) -> None:
    scores = json.loads((folder / "scores.json").read_text())
    cells = st.columns(3)
    cells[0].metric("examples", scores["examples"])
    cells[1].metric("accuracy", f"{scores['accuracy']:.4f}")
    cells[2].metric("macro-F1", f"{scores['macro_f1']:.4f}")
    per_class = scores["per_class"]
    st.pyplot(charts.metric_bars({c: s["f1"] for c, s in per_class.items()}, "F1 per class"), clear_figure=True)
    confusion = scores["confusion"]
    st.caption("Confusion (rows: gold, columns: predicted)")
    st.dataframe([{"gold": gold, **dict(zip(confusion["labels"], row))}
                  for gold, row in zip(confusion["labels"], confusion["rows_gold_columns_predicted"])], hide_index=True)
    st.subheader("Per item")
    only_errors = st.toggle("Only the misclassified", value=False)
    for name, rows in predictions(folder).items():
        shown = [r for r in rows if not (only_errors and r["accuracy"])]
        st.caption(f"{name}: {len(shown)} item(s)")
        st.dataframe(shown, hide_index=True, use_container_width=True)


cfg = common.config()
st.title("Results")
folders = result_folders(cfg)
if not folders:
    st.info(f"No evaluation results under {cfg.training.output_root} yet: run `wb eval qa` or `wb eval classify`.")
else:
    folder = st.selectbox("Results folder", folders, format_func=lambda p: f"{p.parent.name}/{p.name}")
    try:
        (classify_results if folder.parent.name == "eval-classify" else qa_results)(folder)
    except Exception as exc:  # noqa: BLE001 - a damaged results folder is a message, not a traceback
        common.show_error(exc)
