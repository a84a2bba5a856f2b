"""Results: experiments (`wb compare`, or started here as a job) with intervals, verdicts in words, the
paired matrix, plots and per-item predictions filtered to disagreements; and the folders `wb eval qa`
and `wb eval classify` write, as a summary table, a bar chart per metric and per-item predictions."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from ui import charts, common, job_panel
from workbench.config import shipped_config
from workbench.jobs import list_jobs, start_job
from workbench.requests import CompareRequest
from workbench.session import Workbench

QA_METRICS = ("exact_match", "token_f1", "answer_contained")
CLASSIFY_METRICS = ("accuracy", "macro_f1")


def result_folders(cfg) -> list[Path]:
    """Experiment folders (with summary.json) and evaluation folders (with scores.json), newest first;
    then the experiments whose results ship with the checkout."""
    root = Path(cfg.training.output_root)
    folders = [p for p in (root / "experiments").glob("*") if (p / "summary.json").is_file()]
    folders += [p for kind in ("eval-qa", "eval-classify") for p in (root / kind).glob("*") if (p / "scores.json").is_file()]
    shipped = sorted(p for p in common.SHIPPED_RESULTS.glob("*") if (p / "summary.json").is_file())
    return sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True) + shipped


def experiment_results(folder: Path) -> None:
    summary = Workbench.read_summary(folder).model_dump()
    metric = summary["primary_metric"]
    cells = st.columns(4)
    cells[0].metric("Task", summary["task"])
    cells[1].metric("Evaluated items", summary["items"]["test"])
    cells[2].metric("Training items", summary["items"]["train"])
    cells[3].metric("Leaking items", len(summary["leaks"]), help="evaluated items that overlap the training data "
                    "or the demonstration pool (same text or a shared 13-word sequence)")
    rows = []
    for row in summary["strategies"]:
        shown = {"strategy": row["strategy"], "n": row["n"]}
        if row.get("error"):
            shown[metric] = f"failed: {row['error']}"
        else:
            shown[metric] = f"{row[metric]:.3f} [{row[f'{metric}_low']:.3f}, {row[f'{metric}_high']:.3f}]"
        shown.update({k: row.get(k) for k in ("setup_seconds", "trainable_parameters", "latency_seconds", "prompt_tokens")})
        rows.append(shown)
    st.dataframe(rows, hide_index=True, use_container_width=True)
    comparisons = summary["comparisons"]
    found = [c for c in comparisons if c["significant"]]
    st.subheader(f"What the paired tests say ({metric}, Holm-corrected over {len(comparisons)} pairs)")
    for comparison in found:
        st.markdown(f"- {common.as_markdown_text(comparison['verdict'])}")
    if not found:
        st.info("No pair differs detectably at this number of items.")
    with st.expander(f"The other {len(comparisons) - len(found)} pairs, and the matrix"):
        for comparison in comparisons:
            if not comparison["significant"]:
                st.markdown(f"- {common.as_markdown_text(comparison['verdict'])}")
        st.dataframe(Workbench.paired_matrix(comparisons), use_container_width=True)
    for plot in ("quality.png", "cost.png"):
        if (folder / plot).is_file():
            st.image(str(folder / plot))
    st.subheader("Per item")
    items = {path.stem: [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
             for path in sorted((folder / "predictions").glob("*.jsonl"))}
    if not items:
        st.caption("This folder keeps no per-item predictions (a data set whose license keeps them out of git, "
                   "such as DialogSum): run the experiment to see them.")
        return
    only_disagreements = st.toggle("Only where strategies disagree", value=True)
    table = []
    for position, first in enumerate(next(iter(items.values()), [])):
        predictions = {name: rows_[position]["prediction"] for name, rows_ in items.items() if position < len(rows_)}
        if only_disagreements and len({Workbench.normalize_answer(p) for p in predictions.values()}) < 2:
            continue
        reference = first["reference"]
        table.append({"item": first.get("question", first["id"]),
                      "reference": " | ".join(reference) if isinstance(reference, list) else reference, **predictions})
    st.caption(f"{len(table)} item(s)")
    st.dataframe(table, hide_index=True, use_container_width=True)


def start_experiment(cfg) -> None:
    """Run a shipped or uploaded experiment file as a background job, over the server's settings."""
    shipped = sorted(shipped_config("experiments").glob("*.yaml"))
    with st.expander("Run an experiment"):
        choice = st.selectbox("Experiment", [*shipped, "upload a file"],
                              format_func=lambda p: p if isinstance(p, str) else p.stem)
        upload = st.file_uploader("Experiment file (YAML)", type=["yaml", "yml"]) if choice == "upload a file" else None
        smoke = st.checkbox("Smoke size (a few items, a couple of steps)", value=True)
        if st.button("Start experiment", disabled=choice == "upload a file" and upload is None):
            try:
                path = choice if upload is None else common.save_uploads([upload], cfg, common.unique_folder("experiment"))[0]
                run_cfg = cfg.merged(path)
                job = start_job(run_cfg, "compare", CompareRequest(smoke=smoke),
                                title=f"experiment {run_cfg.experiment.name}{' (smoke)' if smoke else ''}")
                job_panel.select(job)
                st.rerun()
            except Exception as exc:  # noqa: BLE001
                common.show_error(exc)
    jobs = [j for j in list_jobs(cfg) if j.kind == "compare"]
    current = job_panel.selected()
    if current is not None and current.kind == "compare":
        job_panel.panel(current, chart=False)
    elif jobs and jobs[0].active:
        job_panel.panel(jobs[0], chart=False)


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
        distinct = {Workbench.normalize_answer(a["prediction"]) for a in answers.values()}
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


def show(folder: Path) -> None:
    if (folder / "summary.json").is_file():
        experiment_results(folder)
    elif folder.parent.name == "eval-classify":
        classify_results(folder)
    else:
        qa_results(folder)


cfg = common.config()
st.title("Results")
start_experiment(cfg)
folders = result_folders(cfg)
if not folders:
    st.info(f"No results under {cfg.training.output_root} yet: run an experiment above, `wb compare`, "
            "`wb eval qa` or `wb eval classify`.")
else:
    folder = st.selectbox("Results", folders, format_func=lambda p: f"{p.parent.name}/{p.name}")
    try:
        show(folder)
    except Exception as exc:  # noqa: BLE001 - a damaged results folder is a message, not a traceback
        common.show_error(exc)
