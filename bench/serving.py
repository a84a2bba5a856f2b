"""Serving speed where users wait: single-stream prompt and decode speed of our engine against llama.cpp
on the same GGUF, beside the memory-bandwidth bound, with what each cheap change buys; then five
strategies answering one question side by side in one batched generation against each alone.

Run: .venv/bin/python bench/serving.py [--llama-python PATH]   (writes bench/results/serving.md; ~15 min)

llama.cpp is not a dependency of workbench. Build llama-cpp-python in an environment of its own (about
7 minutes on 2 cores) and pass that environment's python:

    python3 -m venv /tmp/llama && CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/llama/bin/pip install llama-cpp-python
    .venv/bin/python bench/serving.py --llama-python /tmp/llama/bin/python

Speeds: prompt = tokens of a ~300-token RAG prompt per second of processing it; decode = generated tokens
per second after it (one stream, greedy, a fixed number of tokens). Each is the median of 3 runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from workbench.config import load_config
from workbench.corpus import load_demo_corpus
from workbench.demo import DEMO_INDEX, demo_answer_settings, prepare_demo
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts
from workbench.models import GENERATOR, LoadedGenerator, fast_output_layer, load_generator
from workbench.models.registry import resolve, shipped_gguf
from workbench.strategies import STRATEGY_NAMES, StrategyFactory, StrategyOptions, answer_together

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "serving.md"
DECODE_TOKENS = 48
RUNS = 3
AGREEMENT_PROMPTS = 32  # zero-shot and RAG prompts whose greedy answers each variant must reproduce
AGREEMENT_TOKENS = 32
SIDE_BY_SIDE_QUESTIONS = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-python", help="python of an environment with llama-cpp-python")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = load_config()
    prepared = prepare_demo(config)  # the demo index and LoRA adapter (reused when already built)
    tokenizer = load_generator(GENERATOR, "cpu").tokenizer
    rag_prompt, agreement_prompts = _prompts(config, tokenizer)
    bandwidth = _read_bandwidth()
    report = [f"# Serving speed\n\n{time.strftime('%Y-%m-%d')}, {_cpu()}, 2 cores, torch {torch.__version__} "
              f"({torch.get_num_threads()} threads). Produced by `bench/serving.py`.\n"]
    single, prompt_rate = single_stream(rag_prompt, agreement_prompts, bandwidth, args.llama_python)
    report += single + output_layer_ab(rag_prompt) + side_by_side(config, prepared.adapter, prompt_rate)
    RESULTS.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


# --- single stream ------------------------------------------------------------------------------------

def _plain() -> torch.nn.Module:
    """The generator as transformers loads it: float32, MKL for every matrix product."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(resolve(GENERATOR, "generator"), dtype=torch.float32).eval()


def _shipped() -> torch.nn.Module:
    model = _plain()
    fast_output_layer(model)
    return model


def _bf16() -> torch.nn.Module:
    return _plain().to(torch.bfloat16)


def _int8() -> torch.nn.Module:
    """The blocks' linear layers in int8; the output layer (tied to the input embedding, and the most
    sensitive to rounding) stays as shipped."""
    model = _shipped()
    model.model = torch.ao.quantization.quantize_dynamic(model.model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


SHIPPED = "+ oneDNN output layer (**shipped**)"
# name, how the model is made, extra generate() arguments, whether its answers are compared
VARIANTS: list[tuple[str, Callable[[], torch.nn.Module], dict, bool]] = [
    ("transformers, float32 (before)", _plain, {}, True),
    (SHIPPED, _shipped, {}, True),
    ("shipped + static cache", _shipped, {"cache_implementation": "static"}, False),
    ("shipped + static cache + torch.compile", _shipped, {"cache_implementation": "static", "compile": True}, False),
    ("bfloat16 weights", _bf16, {}, True),
    ("shipped, int8 weights in the blocks (dynamic quantization)", _int8, {}, True),
]


def single_stream(rag_prompt: list[int], agreement_prompts: list[list[int]], bandwidth: float,
                  llama_python: str | None) -> tuple[list[str], float]:
    """The table's lines, and the shipped engine's prompt speed (tokens/s)."""
    rows, reference = [], None
    for name, make, extra, compare in VARIANTS:
        print(f"single stream: {name}", flush=True)
        model = make()
        weights_mb = _weights_mb(model)
        kwargs = dict(extra)
        if kwargs.pop("compile", False):
            from transformers import CompileConfig

            kwargs["compile_config"] = CompileConfig(mode="default")  # no CUDA graphs on a CPU
            kwargs["compile_config"]._compile_all_devices = True  # transformers compiles on GPUs only, unless told
        started = time.perf_counter()
        _generate(model, rag_prompt, 2, kwargs)  # warm-up (compiles, when compiling)
        warmup = time.perf_counter() - started
        prompt_rate, decode_rate = _speeds(lambda n, model=model: _generate(model, rag_prompt, n, kwargs), len(rag_prompt))
        steps = "–"  # the step is timed on a dynamic cache, without the variant's generate() options
        if not extra:
            steps = f"{_decode_step_ms(model, rag_prompt, 1):.0f} / {_decode_step_ms(model, rag_prompt, 5):.0f}"
        agreement = "–"
        if compare:
            answers = _greedy_answers(model, agreement_prompts)
            reference = reference or answers
            same = sum(a == b for a, b in zip(answers, reference))
            agreement = f"{same}/{len(reference)}"
        rows.append([name, f"{weights_mb:.0f}", f"{prompt_rate:.0f}", f"{decode_rate:.1f}",
                     f"{100 * decode_rate / (bandwidth / weights_mb):.0f} %", steps,
                     agreement, f"{warmup:.1f}"])
        print("  " + " | ".join(rows[-1]), flush=True)
        del model
    if llama_python:
        rows += _llama_cpp(llama_python, rag_prompt, bandwidth)
    f32_mb = float(rows[0][1])
    return ([
        "## Single stream: prompt and decode speed\n",
        f"Memory read speed measured here: **{bandwidth / 1000:.1f} GB/s** (a 1 GiB float32 sum, 2 threads). "
        f"Reading the float32 weights once per token ({f32_mb:.0f} MB) bounds decoding at "
        f"**{bandwidth / f32_mb:.1f} tokens/s**; the target is 1.5x of that bound (≥ {bandwidth / f32_mb / 1.5:.1f}). "
        f"Prompt: {len(rag_prompt)} tokens (a RAG prompt of the demo corpus). Decode: {DECODE_TOKENS} tokens. "
        "Bound %: decode speed over the bandwidth bound of the weights that variant reads (over 100 % means "
        "the bandwidth measured here is a floor, not the machine's peak). Decode step: one batched step "
        "at batch 1 and 5 (five strategies side by side). Same answers: greedy answers (up to "
        f"{AGREEMENT_TOKENS} tokens) equal to the first row's, on {len(agreement_prompts)} zero-shot and RAG "
        "prompts through the engine (batch 8).\n",
        "| engine | weights MB | prompt tok/s | decode tok/s | of its bound | decode step ms, batch 1 / 5 | "
        "same answers | warm-up s |",
        "|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ], next(float(row[2]) for row in rows if row[0] == SHIPPED))


AB_ROUNDS = 12


def output_layer_ab(prompt: list[int]) -> list[str]:
    """The shipped change alone, robust to a noisy machine: both models loaded, their decoding steps
    timed in alternation, round after round, so that noise hits both alike."""
    print("output layer: alternating before / shipped", flush=True)
    models = {"before": _plain(), "shipped": _shipped()}
    lines = []
    for batch in (1, 5):
        times = {name: [] for name in models}
        for _ in range(AB_ROUNDS):
            for name, model in models.items():
                times[name].append(_decode_step_ms(model, prompt, batch, steps=8))
        before, shipped = (statistics.median(times[name]) for name in models)
        wins = sum(s < b for b, s in zip(times["before"], times["shipped"]))
        lines.append(f"| {batch} | {before:.1f} | {shipped:.1f} | {shipped / before:.2f} | {wins}/{AB_ROUNDS} |")
    return [
        "## The output layer on oneDNN, measured in alternation\n",
        "Whole-model runs on this machine vary from one run to the next (the memory read speed measured "
        "23–29 GB/s in four runs of this benchmark), as much as the change is worth. Here both models are loaded "
        f"and their decoding steps (64 tokens of context) are timed in turn, {AB_ROUNDS} rounds of 8 steps: "
        "median step time, and the rounds the shipped model won.\n",
        "| batch | before ms | shipped ms | ratio | rounds won |",
        "|---|---|---|---|---|",
        *lines,
        "",
    ]


def _generate(model: torch.nn.Module, prompt: list[int], new_tokens: int, kwargs: dict) -> None:
    with torch.inference_mode():
        model.generate(torch.tensor([prompt]), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=False, pad_token_id=0, **kwargs)


def _speeds(generate: Callable[[int], None], prompt_tokens: int) -> tuple[float, float]:
    """(prompt tokens/s, decode tokens/s): a 1-token generation is the prompt's processing; a longer
    one adds DECODE_TOKENS decoding steps."""
    prompt_s, total_s = [], []
    for _ in range(RUNS):
        prompt_s.append(_seconds(lambda: generate(1)))
        total_s.append(_seconds(lambda: generate(DECODE_TOKENS + 1)))
    prompt, total = statistics.median(prompt_s), statistics.median(total_s)
    return prompt_tokens / prompt, DECODE_TOKENS / (total - prompt)


def _decode_step_ms(model: torch.nn.Module, prompt: list[int], batch: int, steps: int = 16) -> float:
    from transformers import DynamicCache

    ids = torch.tensor([prompt[:64]] * batch)
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        token = model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].argmax(-1, keepdim=True)
        started = time.perf_counter()
        for _ in range(steps):
            token = model(token, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].argmax(-1, keepdim=True)
    return (time.perf_counter() - started) / steps * 1000


def _greedy_answers(model: torch.nn.Module, prompts: list[list[int]]) -> list[str]:
    tokenizer = load_generator(GENERATOR, "cpu").tokenizer
    engine = GenerationEngine(LoadedGenerator(GENERATOR, model, tokenizer, torch.device("cpu")),
                              GenerationSettings(max_new_tokens=AGREEMENT_TOKENS, batch_size=8))
    return [g.text for g in engine.generate(prompts)]


def _weights_mb(model: torch.nn.Module) -> float:
    """What one decoding step reads: every weight matrix once (a tied output layer counted once; the
    input embedding reads one row per token)."""
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    total = 0
    for module in model.modules():
        if isinstance(module, QuantizedLinear):
            total += module.weight().numel()  # int8
        elif isinstance(module, (torch.nn.Linear, torch.utils.mkldnn.MkldnnLinear)):
            total += module.weight.numel() * (4 if module.weight.is_mkldnn else module.weight.element_size())
        elif isinstance(module, torch.nn.Embedding) and model.config.tie_word_embeddings:
            continue  # read through the output layer
        elif isinstance(module, torch.nn.Embedding):
            total += module.embedding_dim * module.weight.element_size()
    return total / 1e6


def _read_bandwidth() -> float:
    """MB/s of reading a 1 GiB float32 tensor (best of 5)."""
    data = torch.ones(256 * 2**20)
    best = min(_seconds(lambda: data.sum()) for _ in range(5))
    return data.numel() * 4 / best / 1e6


LLAMA_SCRIPT = r"""
import ctypes, json, statistics, sys, time
import llama_cpp
from llama_cpp import Llama
gguf, f32_path, prompt_text, decode, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
params = llama_cpp.llama_model_quantize_default_params()
params.ftype, params.allow_requantize = llama_cpp.LLAMA_FTYPE_ALL_F32, True
assert llama_cpp.llama_model_quantize(gguf.encode(), f32_path.encode(), ctypes.byref(params)) == 0
out = {"version": llama_cpp.__version__}
for name, path in (("q4_1", gguf), ("f32", f32_path)):
    llm = Llama(model_path=path, n_ctx=1024, n_threads=2, n_batch=512, verbose=False)
    tokens = llm.tokenize(prompt_text.encode(), add_bos=False, special=True)
    prompt_s, decode_s = [], []
    for _ in range(runs + 1):  # the first run warms up
        llm.reset()
        started = time.perf_counter(); llm.eval(tokens); prompt_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(decode):
            llm.eval([llm.sample(top_k=1)])
        decode_s.append(time.perf_counter() - started)
    out[name] = {"tokens": len(tokens), "prompt": len(tokens) / statistics.median(prompt_s[1:]),
                 "decode": decode / statistics.median(decode_s[1:])}
print(json.dumps(out))
"""


def _llama_cpp(python: str, rag_prompt: list[int], bandwidth: float) -> list[list[str]]:
    print("single stream: llama.cpp", flush=True)
    text = load_generator(GENERATOR, "cpu").tokenizer.decode(rag_prompt)
    with tempfile.TemporaryDirectory() as tmp:
        gguf = shipped_gguf(GENERATOR, Path(tmp))
        done = subprocess.run([python, "-c", LLAMA_SCRIPT, str(gguf), f"{tmp}/f32.gguf", text,
                               str(DECODE_TOKENS), str(RUNS)], capture_output=True, text=True, check=True)
        f32_mb = Path(f"{tmp}/f32.gguf").stat().st_size / 1e6
        q4_mb = gguf.stat().st_size / 1e6
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return [[f"llama.cpp {result['version']}, {label}", f"{mb:.0f}", f"{result[key]['prompt']:.0f}",
             f"{result[key]['decode']:.1f}", f"{100 * result[key]['decode'] / (bandwidth / mb):.0f} %", "–", "–", "–"]
            for label, key, mb in (("the GGUF as shipped (Q4_1)", "q4_1", q4_mb),
                                   ("the GGUF dequantized to float32", "f32", f32_mb))]


# --- side by side -------------------------------------------------------------------------------------

def side_by_side(config, adapter: Path, prompt_rate: float) -> list[str]:
    """The five strategies of the Compare page on held-out demo questions: each alone, then together."""
    config = config.updated(demo_answer_settings())
    factory = StrategyFactory(config, StrategyOptions(index=DEMO_INDEX, adapters=(f"demo={adapter}",)))
    strategies = factory.build_many(STRATEGY_NAMES)
    pairs = load_demo_corpus().qa_pairs
    questions = [pairs[i * len(pairs) // SIDE_BY_SIDE_QUESTIONS] for i in range(SIDE_BY_SIDE_QUESTIONS)]
    answer_together(strategies, questions[:1])  # warm-up: adapters, embedder, index
    rows, ratios, shares, same = [], [], [], 0
    for question in questions:
        print(f"side by side: {question.question}", flush=True)
        alone, seconds = [], []
        for strategy in strategies:
            started = time.perf_counter()
            alone.append(strategy.answer(question))
            seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        together = answer_together(strategies, [question])
        together_s = time.perf_counter() - started
        same += sum(a.raw_text == t[0].raw_text for a, t in zip(alone, together))
        ratios.append(together_s / max(seconds))
        shares.append(together_s / sum(seconds))
        tokens = "/".join(str(a.tokens_out) for a in alone)
        prompt_tokens = sum(a.tokens_in for a in alone)
        rows.append(f"| {question.question} | {prompt_tokens} | {prompt_tokens / prompt_rate:.2f} | {tokens} | "
                    f"{max(seconds):.2f} | {sum(seconds):.2f} | {together_s:.2f} | {together_s / max(seconds):.2f} |")
    labels = ", ".join(s.label for s in strategies)
    return [
        "## Side by side: five strategies, one question\n",
        f"Strategies: {labels} (the demo LoRA adapter), max {config.generation.max_new_tokens} answer tokens, "
        f"demonstrations by similarity, k = {config.retrieval.k}. Alone: each strategy's `answer` in turn; "
        "together: `answer_together`, one batched generation (LoRA rows beside base-model rows). "
        f"Identical greedy answers, together vs alone: **{same}/{len(strategies) * len(questions)}**. "
        f"Median ratio together / slowest alone: **{statistics.median(ratios):.2f}** (target ≤ 1.5); median "
        f"together / all alone: **{statistics.median(shares):.2f}**. Together, each prompt is processed alone "
        "(no padding to the longest) and the rows decode as one batch.\n",
        "Prompt tokens: the five prompts' tokens, which any way of answering must process; at the measured "
        f"prompt speed ({prompt_rate:.0f} tokens/s, the shipped row above) that alone takes the next column's "
        "seconds, a floor under `together` that the slowest strategy alone does not pay.\n",
        "| question | prompt tokens | their processing s | answer tokens | slowest alone s | all alone s | "
        "together s | together / slowest |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


# --- helpers ------------------------------------------------------------------------------------------

def _prompts(config, tokenizer) -> tuple[list[int], list[list[int]]]:
    """A ~300-token RAG prompt (k = 3, the default) and zero-shot and RAG prompts for the answer check."""
    from workbench.indexing import open_index
    from workbench.strategies import Rag, ZeroShot

    engine = GenerationEngine(load_generator(GENERATOR, "cpu"), GenerationSettings(max_new_tokens=AGREEMENT_TOKENS))
    common = {"engine": engine, "templates": load_prompts(), "system_prompt": config.generation.system_prompt}
    rag = Rag(**common, index=open_index(DEMO_INDEX, root=config.index.root), k=3)
    questions = load_demo_corpus().qa_pairs[::7][:AGREEMENT_PROMPTS // 2]
    rag_prompts = [p.prompt.token_ids for p in rag.prompted(questions)]
    zero_prompts = [p.prompt.token_ids for p in ZeroShot(**common).prompted(questions)]
    longest = max(rag_prompts, key=len)
    return longest, zero_prompts + rag_prompts


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
