"""`wb export RUN --format merged|gguf`: a finetuned generator run as a standalone model, for use outside
workbench (docs/export.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.output import add_json_flag, cli_progress, emit, human_size
from workbench.requests import EXPORT_FORMATS, GGUF_DTYPES, ExportRequest
from workbench.runfolder import folder_size
from workbench.session import Workbench


def register(cli) -> None:
    p = cli.command("export", help="export a finetuned generator run: a merged Hugging Face folder, or a GGUF file "
                                   "for llama.cpp and Ollama")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a finished `wb train generator` run (LoRA, IA3 or full)")
    p.add_argument("--format", choices=EXPORT_FORMATS, required=True,
                   help="merged: safetensors, tokenizer and chat template in one folder; gguf: one GGUF file "
                        "(Llama-architecture models such as SmolLM2) with an Ollama Modelfile beside it")
    p.add_argument("--dtype", choices=GGUF_DTYPES,
                   help="--format gguf: the weights' precision (default f16: half the size, logits within ~0.1, the same "
                        "greedy answers in our measurements; f32: bit for bit)")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="the folder to write, new or empty (default: <training.output_root>/exports/<run>-<format>)")
    add_json_flag(p)
    p.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace, session: Workbench) -> None:
    request = ExportRequest(run=args.run, format=args.format, dtype=args.dtype, output=args.output)
    paths = session.export_run(request, cli_progress(args))

    def render() -> None:
        if args.format == "merged":
            print(f"merged model written to {paths[0]} ({human_size(folder_size(paths[0]))})")
            return
        gguf, modelfile = paths
        print(f"GGUF written to {gguf} ({human_size(gguf.stat().st_size)})")
        print(f"Ollama Modelfile: {modelfile}")
        print(f"run it with llama.cpp: llama-cli -m {gguf}")
        print(f"or with Ollama: ollama create NAME -f {modelfile} && ollama run NAME")

    emit(args, {"format": args.format, "paths": paths}, render)

