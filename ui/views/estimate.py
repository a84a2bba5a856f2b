"""Estimate: memory, time and cost of a finetuning setting before spending compute; a pilot that
measures real steps beside the estimate; and the retrieve-or-finetune advice with its break-even plot.
The form's defaults are the server's config; the page calls `Workbench.estimate`, like `wb estimate`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import common
from workbench.config import DEVICE_NAMES
from workbench.errors import WorkbenchError
from workbench.requests import EstimateRequest
from workbench.session import EstimateReport, Workbench


def experiment_folders(cfg) -> list[Path]:
    """`wb compare` results with a QA metric: this server's, then those shipped with the checkout."""
    roots = [Path(cfg.training.output_root) / "experiments", common.SHIPPED_RESULTS]
    return [p for root in roots for p in sorted(root.glob("*"))
            if (p / "summary.json").is_file() and _task(p) == "qa"]


def _task(folder: Path) -> str | None:
    try:
        return Workbench.read_summary(folder).task
    except WorkbenchError:  # a damaged summary: the folder is not offered
        return None


def form(bench: Workbench) -> tuple[dict, int, str | None, Path | None]:
    """The settings chosen (config keys -> values), the pilot steps, the index and the experiment folder."""
    cfg = bench.config
    section, training = cfg.estimate, cfg.training.generator
    models = [cfg.models.generator, *bench.estimate_catalog()[0]]
    top = st.columns(4)
    model = top[0].selectbox("Model", models, index=models.index(section.model or cfg.models.generator),
                             help="shipped architectures need no weights; a folder or config.json works from the CLI")
    methods = list(bench.setting_choices("estimate.method"))
    chosen = section.method or training.method  # dpo and rloo train their preference adapter
    chosen = chosen if chosen in methods else cfg.training.preference.adapter
    method = top[1].selectbox("Method", methods, index=methods.index(chosen))
    device = top[2].selectbox("Device", DEVICE_NAMES, index=DEVICE_NAMES.index(section.device),
                              help="cpu: this machine, measured; GPUs: data-sheet figures (wb estimate --list)")
    objective = top[3].selectbox("Objective", ["sft", "dpo"], index=["sft", "dpo"].index(section.objective))
    row = iter(st.columns(6))
    fields = {"training.generator.max_length": "Sequence tokens", "training.generator.batch_size": "Batch size",
              "estimate.completion_tokens": "Learned tokens (0: all)", "training.generator.epochs": "Epochs",
              "estimate.dataset_tokens": "Dataset tokens", "training.lora.r": "LoRA rank"}
    values = {"estimate.model": model, "estimate.method": method, "estimate.device": device, "estimate.objective": objective}
    values |= {key: common.setting_input(next(row), key, label, bench) for key, label in fields.items()}
    values["training.generator.gradient_checkpointing"] = common.setting_input(
        st, "training.generator.gradient_checkpointing", "Gradient checkpointing", bench)
    st.markdown("**Retrieve or finetune?** Expected load and how often the documents change")
    advisor = st.columns(5)
    for column, (key, label) in zip(advisor, {"estimate.queries_per_day": "Queries a day",
                                              "estimate.updates_per_month": "Updates a month",
                                              "estimate.horizon_days": "Horizon (days)"}.items()):
        values[key] = common.setting_input(column, key, label, bench)
    indexes = [i["name"] for i in bench.list_indexes() if "error" not in i]
    index = advisor[3].selectbox("Index (corpus)", ["none", *indexes],
                                 help="its chunks set RAG's prompt length and the cost of re-embedding")
    folders = experiment_folders(cfg)
    experiment = advisor[4].selectbox("Measured quality", ["none", *folders],
                                      format_func=lambda p: p if p == "none" else Path(p).name,
                                      help="a `wb compare` QA experiment: its RAG and finetuned F1 with intervals")
    pilot = st.number_input("Pilot steps (0: none)", min_value=0, value=0,
                            help="train this many real steps here and show the measurement beside the estimate "
                                 "(needs the model's weights; minutes on a CPU). Memory is measured inside this "
                                 "server's process, which already holds models: `wb estimate --pilot N` in a "
                                 "fresh process measures it more cleanly")
    return values, pilot, None if index == "none" else index, None if experiment == "none" else Path(experiment)


def show(bench: Workbench, report: EstimateReport) -> None:
    figures = bench.estimate_figures(report)
    e, s = report.estimate, report.estimate.setting
    cells = st.columns(4)
    cells[0].metric("Trainable parameters", f"{e.parameters.trainable:,}",
                    f"{100 * e.parameters.trainable / e.parameters.total:.3f} % of {e.parameters.total:,}", delta_color="off")
    cells[1].metric("Peak training memory", common.human_size(e.peak_memory),
                    f"{'fits' if e.fits else 'does not fit'} in {e.device.name}", delta_color="normal" if e.fits else "inverse")
    cells[2].metric("Training time", f"{e.train_seconds / 3600:.2f} h", f"{e.steps:,} steps × {e.seconds_per_step:.2f} s",
                    delta_color="off")
    cells[3].metric("Training cost", f"${e.train_cost:,.2f}", f"at ${s['price_per_hour']:.2f}/h", delta_color="off")
    if e.steps:
        st.pyplot(figures["memory"], clear_figure=True)
    v = e.serving
    st.table({"": ["prompt tokens", "seconds a query", "storage a task"],
              "RAG": [v.rag_prompt_tokens, f"{v.rag_seconds_per_query:.3f}", "the index"],
              "finetuned": [v.finetuned_prompt_tokens, f"{v.finetuned_seconds_per_query:.3f}",
                            common.human_size(v.per_task_bytes)]})
    if report.comparisons:
        st.markdown("**Pilot: estimate beside measurement**")
        st.table({"figure": [c.figure for c in report.comparisons],
                  "estimated": [_value(c.figure, c.estimated) for c in report.comparisons],
                  "measured": [_value(c.figure, c.measured) for c in report.comparisons],
                  "estimate / measured": [f"{c.ratio:.2f}" for c in report.comparisons],
                  "how": [c.how for c in report.comparisons]})
        if report.pilot.heap_kept:
            st.caption("The measured memory includes freed memory glibc keeps in its heap, and this server already "
                       "holds models; for the live tensors the estimate counts, run `MALLOC_MMAP_THRESHOLD_=1048576 "
                       "wb estimate --pilot N` (docs/estimate.md).")
    st.subheader("Retrieve or finetune?")
    st.info(report.advice.recommendation)
    st.pyplot(figures["break-even"], clear_figure=True)
    st.caption("Assuming " + "; ".join(report.advice.assumptions) + ".")


def _value(figure: str, value: float) -> str:
    return common.human_size(value) if "memory" in figure else f"{value:.3f}"


bench = common.session()
st.title("Estimate")
st.caption("Memory, time and cost of finetuning before committing compute; then whether to retrieve, "
           "finetune or both. Formulas: docs/estimate.md.")
values, pilot_steps, index_name, experiment_folder = form(bench)
if st.button("Estimate", type="primary"):
    try:
        bar = st.progress(0.0, text="tracing a training step...")
        report = bench.updated(values).estimate(
            EstimateRequest(pilot=pilot_steps, index=index_name, experiment=experiment_folder),
            progress=lambda u: bar.progress(u.fraction or 0.0, text=f"pilot {u.stage}: {u.done}/{u.total or '?'}"))
        bar.empty()
        st.session_state["estimate"] = report
    except Exception as exc:  # noqa: BLE001 - shown on the page, the form stays usable
        common.show_error(exc)
if "estimate" in st.session_state:
    show(bench, st.session_state["estimate"])
