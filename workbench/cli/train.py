"""`wb train classifier|generator|merge` and `wb eval classify`: the finetuning track's commands.

Hyper-parameters default to `training.*` in the config; the flags here override them for one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.output import add_json_flag, emit, human_size, table
from workbench.config import Config
from workbench.errors import WorkbenchError


def register(cli) -> None:
    p = cli.subcommand("train", "classifier", help="train a text classifier (feature, head, last-n, full, lora)")
    _data_arguments(p, "a CSV/TSV table of texts and labels")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--label-column", default="label", help="column holding the label (default: label)")
    p.add_argument("--method", choices=("feature", "head", "last-n", "full", "lora"),
                   help="what trains (default: training.classifier.method)")
    p.add_argument("--backbone", default="minilm", help="minilm, smollm2-135m-instruct, or any HF id/folder")
    p.add_argument("--last-n", type=int, help="last-n: how many final blocks train (default: training.classifier.last_n)")
    p.add_argument("--head-learning-rate", type=float, default=1e-3, help="learning rate of the new head (default: 1e-3)")
    _loop_arguments(p)
    p.set_defaults(handler=train_classifier_command)

    p = cli.subcommand("train", "generator", help="finetune a generator on QA, instruction or chat data")
    _data_arguments(p, "QA (SQuAD JSON or records), Alpaca instructions, or chat records")
    p.add_argument("--format", choices=("qa", "instruction", "chat"), default="qa", help="what --data holds (default: qa)")
    p.add_argument("--with-context", choices=("none", "gold", "retrieved"), default="none",
                   help="qa: the question alone, with its gold paragraph, or with the top-k chunks of --index "
                        "(RAFT recipe; the prompt rag+finetuned sends) (default: none)")
    p.add_argument("--index", help="--with-context retrieved: the index to retrieve from")
    p.add_argument("--k", type=int, metavar="N", help="--with-context retrieved: chunks per question (default: retrieval.k)")
    p.add_argument("--method", choices=("lora", "prompt-tuning", "prefix-tuning", "ia3", "adapter", "full"),
                   help="what trains (default: training.generator.method)")
    p.add_argument("--model", help="base causal LM (default: models.generator)")
    p.add_argument("--virtual-tokens", type=int, default=20, help="prompt/prefix tuning: virtual tokens (default: 20)")
    p.add_argument("--prompt-init-text", help="prompt tuning: initialise the virtual tokens from this text")
    p.add_argument("--bottleneck-size", type=int, default=64, help="adapter: bottleneck width (default: 64)")
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                   help="recompute activations in the backward pass: less memory, slower steps "
                        "(default: training.generator.gradient_checkpointing)")
    p.add_argument("--eval-generate", type=int, default=16,
                   help="held-out examples answered at each epoch end for exact match / F1 (default: 16; 0: none)")
    p.add_argument("--general-data", type=Path,
                   help="Alpaca-style instructions to measure forgetting on (default: a small bundled set)")
    _loop_arguments(p)
    p.set_defaults(handler=train_generator_command)

    p = cli.subcommand("train", "merge", help="merge a LoRA/IA3 generator run into a standalone model folder")
    p.add_argument("run", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", type=Path, required=True, metavar="DIR")
    p.set_defaults(handler=merge_command)

    p = cli.subcommand("eval", "classify", help="score a trained classifier on a labelled table")
    p.add_argument("--model", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--data", type=Path, required=True, metavar="FILE")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    add_json_flag(p)
    p.set_defaults(handler=eval_classify_command)


def _data_arguments(p: argparse.ArgumentParser, what: str) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, metavar="FILE", help=what)
    source.add_argument("--demo", action="store_true", help="use the bundled demo corpus")
    p.add_argument("--eval-data", type=Path, metavar="FILE", help="held-out data (default: 10%% of --data)")


def _loop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--max-length", type=int, help="tokens per example; longer ones are truncated (and counted)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (quick looks)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="optimizer steps between checkpoints (default: 50)")
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS",
                   help="stop after this many epochs without a lower eval loss")
    p.add_argument("--no-group-by-length", action="store_true", help="batch in random order (more padding)")
    p.add_argument("--seed", type=int, help="default: training.seed")
    p.add_argument("--output", type=Path, metavar="RUN_DIR", help="run folder (default: under training.output_root)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    add_json_flag(p)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise WorkbenchError(f"--{name.replace('_', '-')} must be positive, got {value}")


def _loop_settings(args: argparse.Namespace, section, config: Config):
    from workbench.training.loop import LoopSettings

    _positive(args, "epochs", "batch_size", "learning_rate", "max_length", "max_steps", "checkpoint_every",
              "last_n", "virtual_tokens", "bottleneck_size", "head_learning_rate")
    return LoopSettings(
        epochs=args.epochs or section.epochs, batch_size=args.batch_size or section.batch_size,
        learning_rate=args.learning_rate or section.learning_rate,
        seed=config.training.seed if args.seed is None else args.seed,
        checkpoint_every=args.checkpoint_every, max_steps=args.max_steps, early_stopping_patience=args.early_stopping,
        group_by_length=not args.no_group_by_length, device=config.models.device)


def _run_path(args: argparse.Namespace, config: Config, kind: str, method: str) -> Path:
    from workbench.training.runs import default_run_path

    if args.resume and args.output is None:
        raise WorkbenchError("--resume needs --output RUN_DIR (the run to continue)")
    return args.output or default_run_path(config.training.output_root, kind, method)


def _lora(config: Config):
    from workbench.training.adapters import LoraSettings

    lora = config.training.lora
    return LoraSettings(lora.r, lora.alpha, lora.dropout, tuple(lora.target_modules) if lora.target_modules else None)


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
    from workbench.corpus import load_demo_corpus, load_labeled_table
    from workbench.training.classifier import ClassifierOptions, train_classifier

    section = config.training.classifier
    if args.demo:
        rows, source = load_demo_corpus().labeled_documents(), "demo corpus (paragraph → article topic)"
    else:
        rows, source = load_labeled_table(args.data, args.text_column, args.label_column), str(args.data)
    eval_rows = load_labeled_table(args.eval_data, args.text_column, args.label_column) if args.eval_data else None
    method = args.method or section.method
    options = ClassifierOptions(loop=_loop_settings(args, section, config), method=method, backbone=args.backbone,
                                last_n=args.last_n or section.last_n, max_length=args.max_length or section.max_length,
                                head_learning_rate=args.head_learning_rate, lora=_lora(config))
    run = train_classifier([r.text for r in rows], [r.label for r in rows], options,
                           _run_path(args, config, "classifier", method),
                           eval_texts=[r.text for r in eval_rows] if eval_rows else None,
                           eval_labels=[r.label for r in eval_rows] if eval_rows else None,
                           source=source, resume=args.resume)
    _report(args, run)


def train_generator_command(args: argparse.Namespace, config: Config) -> None:
    from workbench.training.generator import GeneratorOptions, train_generator
    from workbench.training.examples import bundled_general_examples, load_examples

    section = config.training.generator
    system = config.generation.system_prompt
    _positive(args, "k")
    index = None
    if args.with_context == "retrieved":
        if not args.index:
            raise WorkbenchError("--with-context retrieved needs --index NAME (build one with `wb index build`)")
        from workbench.indexing import open_index

        index = open_index(args.index, root=config.index.root)
    context = {"with_context": args.with_context, "index": index, "k": args.k or config.retrieval.k}
    examples, source = load_examples(None if args.demo else args.data, args.format, system, **context)
    if args.format == "qa" and args.with_context != "none":
        source += (f" (context: retrieved top-{context['k']} from index '{args.index}')"
                   if args.with_context == "retrieved" else " (context: gold paragraph)")
    eval_examples = load_examples(args.eval_data, args.format, system, **context)[0] if args.eval_data else None
    general = (load_examples(args.general_data, "instruction", system, False)[0] if args.general_data
               else bundled_general_examples(system))
    method = args.method or section.method
    options = GeneratorOptions(loop=_loop_settings(args, section, config), method=method,
                               model=args.model or config.models.generator,
                               max_length=args.max_length or section.max_length, lora=_lora(config),
                               virtual_tokens=args.virtual_tokens, prompt_init_text=args.prompt_init_text,
                               bottleneck_size=args.bottleneck_size, eval_generate=args.eval_generate,
                               max_new_tokens=config.generation.max_new_tokens,
                               gradient_checkpointing=section.gradient_checkpointing
                               if args.gradient_checkpointing is None else args.gradient_checkpointing)
    run = train_generator(examples, options, _run_path(args, config, "generator", method), eval_examples,
                          general=general, source=source, resume=args.resume)
    _report(args, run)


def merge_command(args: argparse.Namespace, config: Config) -> None:
    from workbench.training.merge import merge_run

    print(f"merged model written to {merge_run(args.run, args.output)}")


def eval_classify_command(args: argparse.Namespace, config: Config) -> None:
    from workbench.corpus import load_labeled_table
    from workbench.training.classifier import evaluate_classifier

    rows = load_labeled_table(args.data, args.text_column, args.label_column)
    result = evaluate_classifier(args.model, [r.text for r in rows], [r.label for r in rows])

    def render() -> None:
        print(f"{result['examples']} examples: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}")
        print(table([[c, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", s["support"]]
                     for c, s in result["per_class"].items()], ["class", "precision", "recall", "F1", "support"]))
        confusion = result["confusion"]
        print("\nconfusion (rows: gold, columns: predicted)")
        print(table([[gold, *row] for gold, row in zip(confusion["labels"], confusion["rows_gold_columns_predicted"])],
                    ["", *confusion["labels"]]))

    emit(args, result, render)
