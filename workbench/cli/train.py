"""`wb train classifier|generator|reward|merge` and `wb eval classify`: the finetuning track's commands.

Hyper-parameters default to `training.*` in the config; each flag here sets one config key for this
run (e.g. `--epochs` is `training.generator.epochs`), so the CLI, the UI and a YAML file agree."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench import api
from workbench.cli.output import add_json_flag, cli_progress, emit, human_size, table
from workbench.cli.main import with_flags
from workbench.config import Config
from workbench.errors import WorkbenchError


def register(cli) -> None:
    p = cli.subcommand("train", "classifier", help="train a text classifier (feature, head, last-n, full, lora)")
    _data_arguments(p, "a CSV/TSV table of texts and labels; with --labels, your documents (files or a folder)",
                    required=False)  # --labels ... --index NAME needs neither
    p.add_argument("--labels", metavar="folder|metadata:KEY",
                   help="classify passages of your documents by the folder they sit in, or by a metadata key; the "
                        "split is by document (--test-fraction of each class's documents held out)")
    p.add_argument("--index", metavar="NAME", help="with --labels: classify this index's passages")
    p.add_argument("--test-fraction", type=float, help="with --labels: share of each class's documents held out (default 0.2)")
    p.add_argument("--text-column", help="column holding the text (default: data.text_column)")
    p.add_argument("--label-column", help="column holding the label (default: data.label_column)")
    p.add_argument("--method", choices=("feature", "head", "last-n", "full", "lora"),
                   help="what trains (default: training.classifier.method)")
    p.add_argument("--backbone", help="minilm, smollm2-135m-instruct, or any HF id/folder (default: training.classifier.backbone)")
    p.add_argument("--last-n", type=int, help="last-n: how many final blocks train (default: training.classifier.last_n)")
    p.add_argument("--head-learning-rate", type=float,
                   help="learning rate of the new head (default: training.classifier.head_learning_rate)")
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
    p.add_argument("--k", type=int, metavar="N", help="--with-context retrieved: chunks per question (default: retrieval.k)")
    p.add_argument("--method", choices=("lora", "prompt-tuning", "prefix-tuning", "ia3", "adapter", "full", "dpo",
                                        "rloo", "ppo"),
                   help="what trains (default: training.generator.method); dpo and rloo tune on preference records "
                        "(prompt, chosen, rejected) with the training.preference settings")
    p.add_argument("--model", help="base causal LM (default: models.generator)")
    p.add_argument("--virtual-tokens", type=int, help="prompt/prefix tuning: virtual tokens (default: training.generator.virtual_tokens)")
    p.add_argument("--prompt-init-text", help="prompt tuning: initialise the virtual tokens from this text")
    p.add_argument("--bottleneck-size", type=int, help="adapter: bottleneck width (default: training.generator.bottleneck_size)")
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                   help="recompute activations in the backward pass: less memory, slower steps "
                        "(default: training.generator.gradient_checkpointing)")
    p.add_argument("--eval-generate", type=int,
                   help="held-out examples answered at each epoch end for exact match / F1 "
                        "(default: training.generator.eval_generate; 0: none)")
    p.add_argument("--general-data", type=Path,
                   help="Alpaca-style instructions to measure forgetting on (default: a small bundled set)")
    p.add_argument("--base", type=Path, metavar="RUN_DIR",
                   help="start from this finished generator run, its adapter merged: e.g. documents first, then QA; "
                        "instruction-tuned, then dpo (default: training.generator.base_run)")
    p.add_argument("--reward", type=Path, metavar="RUN_DIR",
                   help="rloo: the reward model run that scores sampled responses (default: training.preference.reward_run)")
    p.add_argument("--adapter", choices=("lora", "full"),
                   help="dpo/rloo: what trains (default: training.preference.adapter)")
    p.add_argument("--beta", type=float, help="dpo: pull toward the reference; rloo: KL penalty (default: training.preference.beta)")
    p.add_argument("--num-generations", type=int, help="rloo: responses per prompt (default: training.preference.num_generations)")
    _loop_arguments(p)
    p.set_defaults(handler=train_generator_command)

    p = cli.subcommand("train", "reward", help="train a reward model on preference records (prompt, chosen, rejected)")
    p.add_argument("--data", type=Path, required=True, metavar="FILE",
                   help="preference records: prompt (or instruction + input), chosen, rejected (JSON or JSONL)")
    p.add_argument("--eval-data", type=Path, metavar="FILE", help="held-out pairs (default: 10%% of --data)")
    p.add_argument("--method", choices=("lora", "full"), help="what trains (default: training.reward.method)")
    p.add_argument("--model", help="base causal LM (default: models.generator)")
    _loop_arguments(p)
    p.set_defaults(handler=train_reward_command)

    p = cli.subcommand("train", "merge", help="merge a LoRA/IA3 generator run into a standalone model folder")
    p.add_argument("run", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", type=Path, required=True, metavar="DIR")
    p.set_defaults(handler=merge_command)

    p = cli.subcommand("eval", "classify", help="score a trained classifier on a labelled table")
    p.add_argument("--model", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--data", type=Path, required=True, metavar="FILE")
    p.add_argument("--text-column", help="default: data.text_column")
    p.add_argument("--label-column", help="default: data.label_column")
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
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--max-length", type=int, help="tokens per example; longer ones are truncated (and counted)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (quick looks)")
    p.add_argument("--checkpoint-every", type=int, help="optimizer steps between checkpoints (default: training.checkpoint_every)")
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS",
                   help="stop after this many epochs without a lower eval loss")
    p.add_argument("--group-by-length", action=argparse.BooleanOptionalAction,
                   help="batch examples of similar length; --no-group-by-length: random order, more padding "
                        "(default: training.group_by_length)")
    p.add_argument("--seed", type=int, help="default: training.seed")
    p.add_argument("--output", type=Path, metavar="RUN_DIR", help="run folder (default: under training.output_root)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    add_json_flag(p)


def _with_flags(config: Config, args: argparse.Namespace, section: str, keys: dict[str, str]) -> Config:
    """The config with the training flags set: the loop's, and `keys` (config key → flag name)."""
    loop = {f"training.{section}.{name}": name for name in ("epochs", "batch_size", "learning_rate", "max_length")}
    loop |= {f"training.{name}": name for name in ("max_steps", "checkpoint_every", "early_stopping", "seed",
                                                   "group_by_length")}
    return with_flags(config, args, {**loop, **keys})


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


def train_classifier_command(args: argparse.Namespace, config: Config) -> None:
    config = _with_flags(config, args, "classifier", {
        "training.classifier.method": "method", "training.classifier.backbone": "backbone",
        "training.classifier.last_n": "last_n", "training.classifier.head_learning_rate": "head_learning_rate",
        "data.text_column": "text_column", "data.label_column": "label_column"})
    if not args.demo and args.data is None and not (args.labels and args.index):
        raise WorkbenchError("give --data FILE or --demo (or --labels ... --index NAME)")
    chosen = {"labels": args.labels, "index": args.index, "test_fraction": args.test_fraction}
    request = api.ClassifierRequest(data=None if args.demo else args.data, eval_data=args.eval_data,
                                    output=args.output, resume=args.resume,
                                    **{key: value for key, value in chosen.items() if value is not None})
    _report(args, api.train_classifier(config, request, progress=cli_progress(args)))


def train_generator_command(args: argparse.Namespace, config: Config) -> None:
    from workbench.preference import PREFERENCE_METHODS

    if not args.demo and args.data is None and not (args.format == "documents" and args.index):
        raise WorkbenchError("give --data FILE or --demo (or --format documents --index NAME)")
    if args.method == "ppo":
        raise WorkbenchError("TRL no longer ships PPO; --method rloo is its maintained online successor: it samples "
                             "responses, scores them with your reward model (--reward RUN_DIR) and keeps a KL penalty "
                             "to the reference (docs/preference.md)")
    preference = (args.method or config.training.generator.method) in PREFERENCE_METHODS
    config = _with_flags(config, args, "preference" if preference else "generator", {
        "training.generator.method": "method", "models.generator": "model",
        "training.generator.virtual_tokens": "virtual_tokens", "training.generator.bottleneck_size": "bottleneck_size",
        "training.generator.gradient_checkpointing": "gradient_checkpointing",
        "training.generator.eval_generate": "eval_generate", "retrieval.k": "k",
        "training.generator.base_run": "base", "training.preference.reward_run": "reward",
        "training.preference.adapter": "adapter", "training.preference.beta": "beta",
        "training.preference.num_generations": "num_generations"})
    chosen = {"format": args.format, "with_context": args.with_context, "index": args.index,
              "general_data": args.general_data, "prompt_init_text": args.prompt_init_text,
              "paraphrases": args.paraphrases, "held_out": args.held_out}
    request = api.GeneratorRequest(data=None if args.demo else args.data, eval_data=args.eval_data,
                                   output=args.output, resume=args.resume,
                                   **{key: value for key, value in chosen.items() if value is not None})
    _report(args, api.train_generator(config, request, progress=cli_progress(args)))


def train_reward_command(args: argparse.Namespace, config: Config) -> None:
    config = _with_flags(config, args, "reward", {"training.reward.method": "method", "models.generator": "model"})
    request = api.RewardRequest(data=args.data, eval_data=args.eval_data, output=args.output, resume=args.resume)
    _report(args, api.train_reward(config, request, progress=cli_progress(args)))


def merge_command(args: argparse.Namespace, config: Config) -> None:
    from workbench.training.merge import merge_run

    print(f"merged model written to {merge_run(args.run, args.output)}")


def eval_classify_command(args: argparse.Namespace, config: Config) -> None:
    config = with_flags(config, args, {"data.text_column": "text_column", "data.label_column": "label_column"})
    result, output = api.evaluate_classifier(config, args.model, args.data, args.output)

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
