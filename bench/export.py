"""`wb export` on the real SmolLM2-135M-Instruct → bench/results/export.md (+ export.json).

A short LoRA run on the demo QA pairs (`--steps` optimizer steps), exported as a merged Hugging Face folder
and as GGUF in float32 and float16. Each GGUF is read back through workbench's own GGUF loading path
(`read_gguf`: transformers, as `wb models prepare` converts the shipped GGUF) and compared with the merged
model on the demo's held-out questions rendered in the chat template: the largest logit difference over
every position, whether the most likely next token agrees everywhere, and the tokenizer's ids.

With `--llama-cpp PYTHON` (an interpreter that has llama-cpp-python), llama.cpp itself reads each GGUF too:
its token ids for the same rendered prompts, its logits, and its greedy answer beside the merged model's.

Usage: .venv/bin/python bench/export.py [--steps 8] [--llama-cpp /path/to/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from workbench.config import load_config
from workbench.models.registry import read_gguf
from workbench.requests import ExportRequest, GeneratorRequest
from workbench.runfolder import folder_size
from workbench.session import Workbench

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "smollm2-135m-instruct"
ANSWER_TOKENS = 16

# Run by the --llama-cpp interpreter: argv = GGUF file, prompts (JSON list of texts), output folder, KV cache
# type ("f16", llama.cpp's default, or "f32"), answer tokens.
LLAMA_CPP = r"""
import json, sys
import numpy as np
from llama_cpp import Llama

path, prompts, out, cache, answer_tokens = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4], int(sys.argv[5])
kv = {"f32": 0, "f16": 1}[cache]  # ggml types
llm = Llama(model_path=path, n_ctx=2048, logits_all=True, verbose=False, n_threads=2, seed=0, type_k=kv, type_v=kv)
found = []
for number, text in enumerate(prompts):
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    llm.eval(ids)
    np.save(f"{out}/logits-{number}.npy", np.asarray(llm.scores[:len(ids)], dtype=np.float32))
    answer = llm.create_completion(text, max_tokens=answer_tokens, temperature=0.0, top_k=1)["choices"][0]["text"]
    found.append({"ids": ids, "answer": answer})
json.dump(found, open(f"{out}/found.json", "w"))
"""


def _prompts(bench: Workbench, tokenizer) -> list[str]:
    system = bench.config.generation.system_prompt
    return [tokenizer.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": q.question}],
                                          tokenize=False, add_generation_prompt=True) for q in bench.demo_questions()]


def _logits(model, ids: list[list[int]]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(torch.tensor([row])).logits[0] for row in ids]


def _compare(got: list[torch.Tensor], expected: list[torch.Tensor]) -> dict:
    return {"max_abs_logit_difference": max((a - b).abs().max().item() for a, b in zip(got, expected)),
            "largest_logit": max(b.abs().max().item() for b in expected),
            "top1_agreement": sum((a.argmax(-1) == b.argmax(-1)).sum().item() for a, b in zip(got, expected))
            / sum(b.shape[0] for b in expected)}


def _greedy(model, tokenizer, ids: list[int]) -> str:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=ANSWER_TOKENS, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


def _llama_cpp(python: str, gguf: Path, cache: str, prompts: list[str], merged: list[torch.Tensor],
               answers: list[str]) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "prompts.json").write_text(json.dumps(prompts))
        started = time.perf_counter()
        subprocess.run([python, "-c", LLAMA_CPP, str(gguf), str(Path(folder) / "prompts.json"), folder, cache,
                        str(ANSWER_TOKENS)], check=True)
        seconds = time.perf_counter() - started
        found = json.loads((Path(folder) / "found.json").read_text())
        logits = [torch.from_numpy(np.load(Path(folder) / f"logits-{n}.npy")) for n in range(len(prompts))]
    return {"seconds": round(seconds, 1), "ids": [f["ids"] for f in found], **_compare(logits, merged),
            "answers_agree": sum(f["answer"].strip() == a.strip() for f, a in zip(found, answers)),
            "answers": [f["answer"] for f in found]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--llama-cpp", metavar="PYTHON", help="an interpreter with llama-cpp-python installed")
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    report: dict = {"model": MODEL, "steps": args.steps, "cores": os.cpu_count(), "exports": {}}
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        bench = Workbench(load_config(overrides=[f"training.output_root={root}", f"models.generator={MODEL}",
                                                 f"training.max_steps={args.steps}", "models.device=cpu"]))
        started = time.perf_counter()
        run = bench.train(GeneratorRequest(output=root / "run"))
        report["train_seconds"] = round(time.perf_counter() - started, 1)
        written = {}
        for name, request in {"merged": ExportRequest(run=run.path, format="merged", output=root / "merged"),
                              "gguf f32": ExportRequest(run=run.path, format="gguf", dtype="f32", output=root / "f32"),
                              "gguf f16": ExportRequest(run=run.path, format="gguf", dtype="f16", output=root / "f16")}.items():
            started = time.perf_counter()
            written[name] = bench.export_run(request)[0]
            report["exports"][name] = {"export_seconds": round(time.perf_counter() - started, 1),
                                       "bytes": folder_size(written[name])}
        merged = AutoModelForCausalLM.from_pretrained(written["merged"]).eval()
        tokenizer = AutoTokenizer.from_pretrained(written["merged"])
        prompts = _prompts(bench, tokenizer)
        ids = [tokenizer(text, add_special_tokens=False).input_ids for text in prompts]
        expected = _logits(merged, ids)
        answers = [_greedy(merged, tokenizer, row) for row in ids]
        report["prompts"], report["prompt_tokens"], report["merged_answers"] = len(prompts), sum(map(len, ids)), answers
        for name in ("gguf f32", "gguf f16"):
            started = time.perf_counter()
            model, gguf_tokenizer = read_gguf(written[name])
            entry = report["exports"][name]
            entry["read_seconds"] = round(time.perf_counter() - started, 1)
            entry["same_token_ids"] = [gguf_tokenizer(t, add_special_tokens=False).input_ids for t in prompts] == ids
            entry["same_chat_template"] = gguf_tokenizer.chat_template == tokenizer.chat_template
            entry.update(_compare(_logits(model.eval(), ids), expected))
            for cache in ("f16", "f32") if args.llama_cpp else ():  # llama.cpp's default KV cache, and float32
                found = _llama_cpp(args.llama_cpp, written[name], cache, prompts, expected, answers)
                entry[f"llama_cpp_{cache}_cache"] = found | {"same_token_ids": found.pop("ids") == ids}
        report["modelfile"] = (written["gguf f16"].parent / "Modelfile").read_text()
    (RESULTS / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    _write_markdown(report)


def _write_markdown(report: dict) -> None:
    lines = ["# `wb export`: SmolLM2-135M-Instruct + LoRA as a merged folder and as GGUF", "",
             f"A LoRA run of {report['steps']} steps on the demo QA pairs ({report['train_seconds']} s), exported three "
             f"ways on {report['cores']} CPU cores; each GGUF read back and compared with the merged model on "
             f"{report['prompts']} held-out demo questions in the chat template ({report['prompt_tokens']} tokens, "
             "logits at every position). Run: `.venv/bin/python bench/export.py [--llama-cpp PYTHON]`.", "",
             "| export | size | export s | read back s | same token ids | max abs logit diff (largest logit) | same top token |",
             "|---|---|---|---|---|---|---|"]
    for name, entry in report["exports"].items():
        if "max_abs_logit_difference" not in entry:
            lines.append(f"| {name} | {entry['bytes'] / 1e6:.1f} MB | {entry['export_seconds']} | - | - | (the reference) | - |")
            continue
        lines.append(f"| {name} (transformers) | {entry['bytes'] / 1e6:.1f} MB | {entry['export_seconds']} | "
                     f"{entry['read_seconds']} | {'yes' if entry['same_token_ids'] else 'NO'} | "
                     f"{entry['max_abs_logit_difference']:.2e} ({entry['largest_logit']:.1f}) | {entry['top1_agreement']:.1%} |")
        for cache in ("f16", "f32"):
            found = entry.get(f"llama_cpp_{cache}_cache")
            if found:
                lines.append(f"| {name} (llama.cpp, {cache} KV cache) | | | {found['seconds']} | "
                             f"{'yes' if found['same_token_ids'] else 'NO'} | {found['max_abs_logit_difference']:.2e} "
                             f"({found['largest_logit']:.1f}) | {found['top1_agreement']:.1%} |")
    answers = [(name, cache, entry[f"llama_cpp_{cache}_cache"]["answers_agree"]) for name, entry in report["exports"].items()
               for cache in ("f16", "f32") if f"llama_cpp_{cache}_cache" in entry]
    if answers:
        lines += ["", f"llama.cpp's greedy answers ({ANSWER_TOKENS} tokens) equal to the merged model's, of "
                      f"{report['prompts']}: " + ", ".join(f"{name} with an {cache} KV cache {agree}" for name, cache, agree in answers)
                  + ". (llama.cpp keeps its KV cache in float16 by default; `--cache-type-k f32 --cache-type-v f32` "
                    "keeps it in float32.)"]
    lines += ["", "The Modelfile written beside the f16 GGUF:", "", "```", report["modelfile"].rstrip(), "```"]
    (RESULTS / "export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
