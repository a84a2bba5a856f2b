"""`wb train classifier|generator|reward|merge` and `wb eval classify`: the finetuning track's commands.

Hyper-parameters default to `training.*` in the config; each flag here sets one config key for this
run (e.g. `--epochs` is `training.generator.epochs`), so the CLI, the UI and a YAML file agree."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from workbench.cli.main import setting_flag, with_settings
from workbench.cli.output import add_json_flag, cli_progress, emit, human_size, table
from workbench.errors import WorkbenchError
from workbench.progress import Cancelled, ProgressCallback, ProgressUpdate
from workbench.requests import ClassifierRequest, GeneratorRequest, RewardRequest
from workbench.session import PREFERENCE_METHODS, Workbench


def register(cli) -> None:
    methods = ", ".join(Workbench.setting_choices("training.classifier.method"))
    p = cli.subcommand("train", "classifier", help=f"train a text classifier ({methods})")
    _data_arguments(p, "a CSV/TSV table of texts and labels; with --labels, your documents (files or a folder)",
                    required=False)  # --labels ... --index NAME needs neither
    p.add_argument("--labels", metavar="folder|metadata:KEY",
                   help="classify passages of your documents by the folder they sit in, or by a metadata key; the "
                        "split is by document (--test-fraction of each class's documents held out)")
    p.add_argument("--index", metavar="NAME", help="with --labels: classify this index's passages")
    p.add_argument("--test-fraction", type=float, help="with --labels: share of each class's documents held out (default 0.2)")
    setting_flag(p, "data.text_column")
    setting_flag(p, "data.label_column")
    for key in ("method", "backbone", "last_n", "head_learning_rate"):
        setting_flag(p, f"training.classifier.{key}")
    _loop_arguments(p)
    p.set_defaults(handler=train_classifier_command)

    p = cli.subcommand("train", "generator", help="finetune a generator on QA, instruction or chat data, or on documents")
    _data_arguments(p, "QA (SQuAD JSON or records), Alpaca instructions, chat records; --format documents: files or a folder",
                    required=False)  # --format documents --index NAME needs neither
    p.add_argument("--format", choices=("qa", "instruction", "chat", "documents"),
                   help="what --data holds (default: qa); documents: continued pretraining on the text of --data's files "
                        "or of --index's chunks")
    p.add_argument("--paraphrases", type=int, metavar="N",
                   help="qa: add N rewordings of each training question, written by the generator (default: 0)")
    p.add_argument("--held-out", type=Path, metavar="FILE",
                   help="qa: the questions this run will be tested on; training pairs that would leak one are dropped")
    p.add_argument("--with-context", choices=("none", "gold", "retrieved"),
                   help="qa: the question alone, with its gold paragraph, or with the top-k chunks of --index "
                        "(RAFT recipe; the prompt rag+finetuned sends) (default: none)")
    p.add_argument("--index", help="--with-context retrieved: the index to retrieve from; --format documents: the index "
                                   "whose chunks to learn")
    setting_flag(p, "retrieval.k", "--k", metavar="N",
                 help="--with-context retrieved: chunks per question (default: retrieval.k)")
    setting_flag(p, "training.generator.method", choices=(*Workbench.setting_choices("training.generator.method"), "ppo"),
                 help="what trains (default: training.generator.method); dpo and rloo tune on preference records "
                      "(prompt, chosen, rejected) with the training.preference settings")
    setting_flag(p, "models.generator", "--model", help="base causal LM (default: models.generator)")
    for key in ("virtual_tokens", "bottleneck_size", "gradient_checkpointing", "eval_generate"):
        setting_flag(p, f"training.generator.{key}")
    p.add_argument("--prompt-init-text", help="prompt tuning: initialise the virtual tokens from this text")
    p.add_argument("--general-data", type=Path,
                   help="Alpaca-style instructions to measure forgetting on (default: a small bundled set)")
    setting_flag(p, "training.generator.base_run", "--base", metavar="RUN_DIR")
    setting_flag(p, "training.preference.reward_run", "--reward", metavar="RUN_DIR")
    for key in ("adapter", "beta", "num_generations"):
        setting_flag(p, f"training.preference.{key}")
    _loop_arguments(p)
    p.set_defaults(handler=train_generator_command)

    p = cli.subcommand("train", "reward", help="train a reward model on preference records (prompt, chosen, rejected)")
    p.add_argument("--data", type=Path, required=True, metavar="FILE",
                   help="preference records: prompt (or instruction + input), chosen, rejected (JSON or JSONL)")
    p.add_argument("--eval-data", type=Path, metavar="FILE", help="held-out pairs (default: 10%% of --data)")
    setting_flag(p, "training.reward.method")
    setting_flag(p, "models.generator", "--model", help="base causal LM (default: models.generator)")
    _loop_arguments(p)
    p.set_defaults(handler=train_reward_command)

    p = cli.subcommand("train", "merge", help="merge a LoRA/IA3 generator run into a standalone model folder")
    p.add_argument("run", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", type=Path, required=True, metavar="DIR")
    p.set_defaults(handler=merge_command)

    p = cli.subcommand("eval", "classify", help="score a trained classifier on a labelled table")
    p.add_argument("--model", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--data", type=Path, required=True, metavar="FILE")
    setting_flag(p, "data.text_column")
    setting_flag(p, "data.label_column")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="where predictions-<run>.jsonl and scores.json go (default: <training.output_root>/eval-classify/<time>)")
    add_json_flag(p)
    p.set_defaults(handler=eval_classify_command)


def _data_arguments(p: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    source = p.add_mutually_exclusive_group(required=required)
    source.add_argument("--data", type=Path, metavar="FILE", help=what)
    source.add_argument("--demo", action="store_true", help="use the bundled demo corpus")
    p.add_argument("--eval-data", type=Path, metavar="FILE", help="held-out data (default: 10%% of --data)")


def _loop_arguments(p: argparse.ArgumentParser) -> None:
    for key in ("epochs", "batch_size", "learning_rate"):
        setting_flag(p, f"training.{{section}}.{key}")
    setting_flag(p, "training.{section}.max_length",
                 help="tokens per example; longer ones are truncated (and counted) (default: training.*.max_length)")
    for key in ("max_steps", "checkpoint_every", "group_by_length", "seed"):
        setting_flag(p, f"training.{key}")
    setting_flag(p, "training.processes", "--nproc", metavar="N")
    setting_flag(p, "training.sharding")
    setting_flag(p, "training.early_stopping", metavar="EPOCHS")
    p.add_argument("--output", type=Path, metavar="RUN_DIR", help="run folder (default: under training.output_root)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    add_json_flag(p)


def _train(args: argparse.Namespace, session: Workbench, request: ClassifierRequest | GeneratorRequest | RewardRequest) -> None:
    """Train and report; with --nproc N, first become N processes of this same command under torchrun."""
    processes = session.config.training.processes
    if processes > 1 and "WORLD_SIZE" not in os.environ:  # torchrun sets WORLD_SIZE in the processes it starts
        _run_under_torchrun(args.command_line, processes)
    bars = cli_progress(args) if os.environ.get("RANK", "0") == "0" else None  # one set of bars, not one per process
    with _stopped_by_sigterm(bars) as progress:
        run = session.train(request, progress=progress)
    if run.writer:  # of several processes, the one that wrote the run reports it
        _report(args, run)


def _run_under_torchrun(command_line: list[str], processes: int) -> NoReturn:
    """Replace this process by torchrun running this `wb` command in `processes` processes on this machine
    (a free port, gloo on CPUs, a GPU each on CUDA), so that a signal to it reaches torchrun, which passes
    it on. Each process gets its share of the cores unless OMP_NUM_THREADS says otherwise."""
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    # "--": torchrun reads none of the command's own flags (it would take --nproc for its --nproc-per-node)
    os.execve(sys.executable, [*launcher, "-m", "--", "workbench.cli", *command_line], env)


@contextmanager
def _stopped_by_sigterm(progress: ProgressCallback | None) -> Iterator[ProgressCallback]:
    """`progress`, which also stops the training with a checkpoint after the current step on SIGTERM (a
    service manager's stop; torchrun passing on its own): every process of a run listens, and the loop
    stops them all at the same step."""
    stopped = []

    def report(update: ProgressUpdate) -> None:
        if progress is not None:
            progress(update)
        if stopped:
            raise Cancelled("SIGTERM")

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    try:
        yield report
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(args: argparse.Namespace, run) -> None:
    summary = run.summary()

    def render() -> None:
        final = {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in summary["final"].items()}
        print(f"run: {run.path}")
        print(table([[k, v] for k, v in final.items()], ["metric (last epoch)", "value"]))
        print(f"trainable: {summary['trainable_params']:,} of {summary['total_params']:,} "
              f"({summary['trainable_percent']}%), saved {human_size(summary['saved_bytes'])}, "
              f"{summary['wall_seconds']} s, peak RSS {human_size(summary['peak_rss_bytes'])}")

    emit(args, {"run": str(run.path), **summary}, render)


def train_classifier_command(args: argparse.Namespace, session: Workbench) -> None:
    session = with_settings(session, args, section="classifier")
    if not args.demo and args.data is None and not (args.labels and args.index):
        raise WorkbenchError("give --data FILE or --demo (or --labels ... --index NAME)")
    chosen = {"labels": args.labels, "index": args.index, "test_fraction": args.test_fraction}
    request = ClassifierRequest(data=None if args.demo else args.data, eval_data=args.eval_data,
                                output=args.output, resume=args.resume,
                                **{key: value for key, value in chosen.items() if value is not None})
    _train(args, session, request)


def train_generator_command(args: argparse.Namespace, session: Workbench) -> None:
    if not args.demo and args.data is None and not (args.format == "documents" and args.index):
        raise WorkbenchError("give --data FILE or --demo (or --format documents --index NAME)")
    if args.method == "ppo":
        raise WorkbenchError("TRL no longer ships PPO; --method rloo is its maintained online successor: it samples "
                             "responses, scores them with your reward model (--reward RUN_DIR) and keeps a KL penalty "
                             "to the reference (docs/preference.md)")
    preference = (args.method or session.config.training.generator.method) in PREFERENCE_METHODS
    session = with_settings(session, args, section="preference" if preference else "generator")
    chosen = {"format": args.format, "with_context": args.with_context, "index": args.index,
              "general_data": args.general_data, "prompt_init_text": args.prompt_init_text,
              "paraphrases": args.paraphrases, "held_out": args.held_out}
    request = GeneratorRequest(data=None if args.demo else args.data, eval_data=args.eval_data,
                               output=args.output, resume=args.resume,
                               **{key: value for key, value in chosen.items() if value is not None})
    _train(args, session, request)


def train_reward_command(args: argparse.Namespace, session: Workbench) -> None:
    session = with_settings(session, args, section="reward")
    request = RewardRequest(data=args.data, eval_data=args.eval_data, output=args.output, resume=args.resume)
    _train(args, session, request)


def merge_command(args: argparse.Namespace, session: Workbench) -> None:
    print(f"merged model written to {session.merge_run(args.run, args.output)}")


def eval_classify_command(args: argparse.Namespace, session: Workbench) -> None:
    session = with_settings(session, args)
    result, output = session.evaluate_classifier(args.model, args.data, args.output)

    def render() -> None:
        print(f"{result['examples']} examples: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}")
        print(table([[c, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", s["support"]]
                     for c, s in result["per_class"].items()], ["class", "precision", "recall", "F1", "support"]))
        confusion = result["confusion"]
        print("\nconfusion (rows: gold, columns: predicted)")
        print(table([[gold, *row] for gold, row in zip(confusion["labels"], confusion["rows_gold_columns_predicted"])],
                    ["", *confusion["labels"]]))
        print(f"\npredictions: {output}")

    emit(args, {**result, "output": str(output)}, render)
