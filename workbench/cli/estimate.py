"""`wb estimate`: memory, time and cost of a finetuning setting before committing compute, optionally
beside a pilot measurement, and the retrieve-or-finetune advice. Each flag sets one config key."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.output import add_json_flag, cli_progress, emit, human_size, table
from workbench.requests import EstimateRequest
from workbench.session import EstimateReport, Workbench


def register(cli) -> None:
    p = cli.command("estimate", help="memory, time and cost of finetuning or serving a model, before spending "
                                     "compute; --pilot measures real steps beside the estimate")
    for key in ("estimate.model", "estimate.method", "estimate.objective", "estimate.device", "estimate.dtype"):
        setting_flag(p, key)
    setting_flag(p, "training.generator.max_length", "--seq-len", help="tokens per sequence (default: training.generator.max_length)")
    for key in ("training.generator.batch_size", "training.generator.epochs", "training.generator.gradient_checkpointing"):
        setting_flag(p, key)
    setting_flag(p, "training.lora.r", "--lora-r", help="LoRA rank (default: training.lora.r)")
    setting_flag(p, "training.lora.target_modules", "--lora-targets", metavar="NAME,NAME",
                 help="LoRA target modules, comma-separated (default: training.lora.target_modules)")
    for key in ("completion_tokens", "dataset_tokens", "utilisation", "price_per_hour", "queries_per_day",
                "updates_per_month", "horizon_days"):
        setting_flag(p, f"estimate.{key}")
    p.add_argument("--pilot", type=int, default=0, metavar="N",
                   help="also run N real training steps here and print the measurement beside the estimate")
    p.add_argument("--index", help="an index: its chunks set RAG's prompt length and re-embedding cost")
    p.add_argument("--experiment", type=Path, metavar="DIR", help="a `wb compare` results folder: measured quality")
    p.add_argument("--output", type=Path, metavar="DIR", help="write estimate.json, memory.png and break-even.png here")
    p.add_argument("--list", action="store_true", help="list the shipped architectures and the devices, and exit")
    add_json_flag(p)
    p.set_defaults(handler=estimate_command)


def estimate_command(args: argparse.Namespace, session: Workbench) -> int:
    if args.list:
        return _list(session)
    session = with_settings(session, args)
    request = EstimateRequest(pilot=args.pilot, index=args.index, experiment=args.experiment, output=args.output)
    report = session.estimate(request, cli_progress(args))
    emit(args, report.as_dict(), lambda: print(render(report)))
    return 0


def render(report: EstimateReport) -> str:
    """The estimate for people: parameters, memory by part, time, serving, the pilot and the advice."""
    e, s = report.estimate, report.estimate.setting
    p = e.parameters
    lines = [f"{s['model']} · {s['method']} ({s['objective']}) · {e.device.name} in {s['dtype']} · batch "
             f"{s['batch_size']} × {s['seq_len']} tokens ({s['completion_tokens']} learned) · checkpointing "
             f"{'on' if s['gradient_checkpointing'] else 'off'}",
             f"parameters: {p.total:,} total, {p.trainable:,} trainable ({100 * p.trainable / p.total:.3f} %)", ""]
    if e.steps:
        rows = [(part, human_size(size)) for part, size in e.memory.items()]
        rows.append(("peak", human_size(e.peak_memory)))
        lines += [table(rows, ("memory (estimated)", "")),
                  f"{'fits' if e.fits else 'DOES NOT FIT'} in {e.device.name}'s {human_size(int(e.device.memory_bytes))}",
                  "",
                  f"time (estimated): {e.flops_per_step / 1e12:.2f} TFLOP a step, {e.seconds_per_step:.2f} s a step at "
                  f"{100 * s['utilisation']:.0f} % of {e.device.peak_flops / 1e9:,.0f} GFLOP/s"
                  f"{' (measured here by a matmul probe)' if e.device.measured else ''}; {e.steps:,} steps = "
                  f"{e.train_seconds / 3600:.2f} h, ${e.train_cost:,.2f}", ""]
    v = e.serving
    lines += [table([("prompt tokens", v.rag_prompt_tokens, v.finetuned_prompt_tokens),
                     ("seconds a query", f"{v.rag_seconds_per_query:.3f}", f"{v.finetuned_seconds_per_query:.3f}"),
                     ("KV cache a query", human_size(v.kv_cache_bytes_per_token * (v.rag_prompt_tokens + v.answer_tokens)),
                      human_size(v.kv_cache_bytes_per_token * (v.finetuned_prompt_tokens + v.answer_tokens))),
                     ("storage a task", "the index", human_size(v.per_task_bytes))],
                    ("serving (estimated)", "RAG", "finetuned")), ""]
    if report.comparisons:
        lines += [table([(c.figure, _figure(c.figure, c.estimated), _figure(c.figure, c.measured), f"{c.ratio:.2f}", c.how)
                         for c in report.comparisons], ("pilot", "estimated", "measured", "ratio", "how"))]
        if report.pilot.heap_kept:
            lines.append("measured RSS includes freed memory glibc keeps in its heap; for the live tensors the estimate "
                         "counts, run with MALLOC_MMAP_THRESHOLD_=1048576 in the environment (docs/estimate.md)")
        lines.append("")
    a = report.advice
    lines += ["advice: " + a.recommendation, "assuming " + "; ".join(a.assumptions) + "."]
    return "\n".join(lines)


def _figure(name: str, value: float) -> str:
    return human_size(int(value)) if "memory" in name else f"{value:.3f}"


def _list(session: Workbench) -> int:
    architectures, gpus = session.estimate_catalog()
    print("architectures: " + ", ".join(architectures))
    print(table([(d.name, human_size(int(d.memory_bytes)), f"{d.peak_flops / 1e12:.0f}", f"{d.bandwidth / 1e9:.0f}",
                  f"{d.price_per_hour:.2f}") for d in gpus],
                ("device", "memory", "peak TFLOP/s", "GB/s", "USD/h")))
    print("cpu: this machine, measured by a matmul and a copy probe")
    return 0
