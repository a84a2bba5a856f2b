"""Train: start a classifier, generator or reward-model run as a background job, watch it live, compare
past runs. Generator methods dpo and rloo tune on preference records with `training.preference`.

A run trains in its own process (workbench.jobs): closing or reloading the tab changes nothing, and
this page re-attaches to it."""

from __future__ import annotations

import streamlit as st

from ui import charts, common, job_panel
from workbench.jobs import list_jobs, start_job
from workbench.requests import ClassifierRequest, GeneratorRequest, RewardRequest
from workbench.session import PREFERENCE_METHODS, Workbench

DATA_TYPES = {"generator": ("json", "jsonl"), "classifier": ("csv", "tsv"), "reward": ("json", "jsonl")}  # what the loaders read
KINDS = {"generator": "train-generator", "classifier": "train-classifier", "reward": "train-reward"}
REQUESTS = {"generator": GeneratorRequest, "classifier": ClassifierRequest, "reward": RewardRequest}


def data_source(cfg, kind: str, demo: bool = True):
    """The chosen data: None for the demo corpus, [] while nothing is chosen yet, else [upload or path]."""
    options = ["Demo corpus", "Upload a file", "Server file"] if demo else ["Upload a file", "Server file"]
    source = st.radio("Data", options, horizontal=True,
                      help="demo corpus: its QA pairs (generator) or its paragraphs labelled by article (classifier); "
                           "preference methods read records with prompt, chosen and rejected")
    if source == "Demo corpus":
        return None
    if source == "Upload a file":
        types = [t for t in cfg.ui.upload_types if t in DATA_TYPES[kind]]
        upload = st.file_uploader("Data file", type=types, max_upload_size=cfg.ui.max_upload_mb)
        return [upload] if upload else []
    path = st.text_input("Path on the server", help="inside " + ", ".join(str(r) for r in common.data_roots(cfg)))
    return [common.allowed_path(path, cfg)] if path.strip() else []


def qa_options(bench: Workbench, indexes: list[str]) -> dict:
    """QA data: the context in the prompt, rewordings of each question, the test questions to keep out."""
    left, middle, right, last = st.columns(4)
    options = {"with_context": left.selectbox("Context in the prompt", ["none", "gold", "retrieved"],
                                              help="the question alone, with its gold paragraph, or with the chunks an "
                                                   "index retrieves (RAFT)")}
    if options["with_context"] == "retrieved":
        options["index"] = middle.selectbox("Retrieve from", indexes)
    options["paraphrases"] = int(right.number_input("Paraphrases", min_value=0, value=0,
                                                    help="rewordings of each training question, written by the generator"))
    tests = {p.name: p for p in sorted(bench.questions_folder().glob("*.jsonl"))}
    held_out = last.selectbox("Keep out the questions of", ["nothing", *tests],
                              help="a test file: training pairs (and rewordings) that would leak one of its questions are dropped")
    if held_out != "nothing":
        options["held_out"] = tests[held_out]
    return options


def start_form(bench: Workbench) -> None:
    cfg = bench.config
    st.subheader("Start a run")
    kind = st.radio("What to train", list(KINDS), horizontal=True)
    job_kind = KINDS[kind]
    choices = list(common.session().setting_choices(f"training.{kind}.method"))
    method = st.selectbox("Method", choices, index=choices.index(getattr(cfg.training, kind).method))
    preference = kind == "reward" or method in PREFERENCE_METHODS
    loop_section = "preference" if kind == "generator" and preference else kind
    indexes = [i["name"] for i in bench.list_indexes() if "error" not in i]
    extra: dict = {}
    values: dict = {}
    from_index = False  # the data is an index's documents: no file to choose
    if kind == "generator":
        left, middle, right = st.columns(3)
        generators = {r["name"]: str(r["path"]) for r in bench.list_runs(kind="generator")}
        base = left.selectbox("Start from", ["the base model", *generators],
                              help="a finished run, its adapter merged: documents first, then QA; instruction-tuned, "
                                   "then preferences (it is also the reference preference tuning stays near)")
        values["training.generator.base_run"] = generators.get(base)
        if preference:
            values["training.preference.beta"] = common.setting_input(middle, "training.preference.beta", "Beta", bench,
                                                                      format="%.3f")
            if method == "rloo":
                rewards = {r["name"]: str(r["path"]) for r in bench.list_runs(kind="reward")}
                picked = right.selectbox("Reward model", list(rewards), help="train one first: What to train → reward")
                values["training.preference.reward_run"] = rewards.get(picked)
        else:
            extra["format"] = middle.selectbox("Data format", ["qa", "instruction", "chat", "documents"],
                                               help="documents: continued pretraining on the text of an index's chunks")
            if extra["format"] == "documents":
                extra["index"], from_index = right.selectbox("Documents of index", indexes), True
            elif extra["format"] == "qa":
                extra.update(qa_options(bench, indexes))
    elif kind == "classifier":
        left, right = st.columns(2)
        labels = left.selectbox("Labels", ["table columns", "folder", "metadata key"],
                                help="folder or metadata key: classify the passages of an index's documents by the "
                                     "folder each file sat in, or by a field of its records; split by document")
        if labels != "table columns":
            extra["index"], from_index = right.selectbox("Documents of index", indexes), True
            extra["labels"] = "folder" if labels == "folder" else "metadata:" + right.text_input("Metadata key", "topic")
    try:
        chosen = None if from_index else data_source(cfg, kind, demo=not preference)
    except Exception as exc:  # noqa: BLE001
        common.show_error(exc)
        return
    columns = iter(st.columns(6))
    fields = {f"training.{loop_section}.epochs": ("Epochs", {}), f"training.{loop_section}.batch_size": ("Batch size", {}),
              f"training.{loop_section}.learning_rate": ("Learning rate", {"format": "%.1e"}),
              f"training.{loop_section}.max_length": ("Max tokens", {}),
              "training.max_steps": ("Max steps (0: all)", {}), "training.checkpoint_every": ("Checkpoint every", {})}
    values[f"training.{kind}.method"] = method
    values |= {key: common.setting_input(next(columns), key, label, bench, **options)
               for key, (label, options) in fields.items()}
    if st.button("Start training", type="primary", disabled=chosen == []):
        try:
            run_cfg = cfg.updated(values)
            data = None
            if chosen:
                data = (chosen[0] if not hasattr(chosen[0], "getvalue")
                        else common.save_uploads(chosen, cfg, common.unique_folder("training"))[0])
            request = REQUESTS[kind](data=data, **extra)
            what = data.name if data else (f"index '{extra['index']}'" if from_index else "the demo corpus")
            title = f"{kind} {method} on {what}"
            job_panel.select(start_job(run_cfg, job_kind, request, title=title))
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            common.show_error(exc)


def summary_of(summary: dict) -> None:
    cells = st.columns(5)
    cells[0].metric("Trainable parameters", f"{summary['trainable_params']:,}",
                    f"{summary['trainable_percent']} % of {summary['total_params']:,}", delta_color="off")
    cells[1].metric("Wall time", f"{summary['wall_seconds']:.0f} s")
    cells[2].metric("Peak memory", common.human_size(summary.get("peak_cuda_bytes") or summary.get("peak_rss_bytes")))
    cells[3].metric("Saved (adapter/weights)", common.human_size(summary.get("saved_bytes")))
    final = summary.get("final", {})
    metric = next((m for m in ("accuracy", "token_f1", "eval_accuracy", "eval_reward_accuracy", "eval_reward", "eval_loss")
                   if m in final), None)
    if metric:
        cells[4].metric(metric, f"{final[metric]:.4f}")


def jobs_section(cfg) -> None:
    jobs = [j for j in list_jobs(cfg) if j.kind.startswith("train-")]
    if not jobs:
        return
    st.subheader("Training jobs")
    current = job_panel.selected()
    ids = [j.id for j in jobs]
    default = ids.index(current.id) if current is not None and current.id in ids else 0
    job = st.selectbox("Job", jobs, index=default, format_func=lambda j: f"{j.title} · {j.state} · {j.id}")
    job_panel.select(job)
    job_panel.panel(job, chart=True)
    if job.state == "completed" and job.result:
        summary_of(job.result["summary"])


def past_runs(bench: Workbench) -> None:
    runs = bench.list_runs()
    if not runs:
        return
    st.subheader("Past runs")
    st.dataframe([{"run": r["name"], "kind": r["kind"], "method": r["method"], "data": r["source"],
                   "trainable": r["summary"]["trainable_params"], "share %": r["summary"]["trainable_percent"],
                   "wall s": r["summary"]["wall_seconds"], "peak memory": common.human_size(r["summary"].get("peak_rss_bytes")),
                   "saved": common.human_size(r["summary"].get("saved_bytes")),
                   "eval loss": r["summary"]["final"].get("eval_loss")} for r in runs],
                 hide_index=True, use_container_width=True)
    names = st.multiselect("Overlay the curves of", [r["name"] for r in runs], default=[r["name"] for r in runs][:2])
    if names:
        paths = {r["name"]: r["path"] for r in runs}
        curves = {n: (bench.open_run(paths[n]).curve(), bench.open_run(paths[n]).metrics()) for n in names}
        st.pyplot(charts.loss_curves(curves), clear_figure=True)


bench = common.session()
st.title("Train")
start_form(bench)
jobs_section(bench.config)
past_runs(bench)
