"""`wb export`: a LoRA run as a merged Hugging Face folder that answers as base + adapter, and as a GGUF
file that workbench's own GGUF loading path (the registry's `read_gguf`, transformers underneath) reads
back with the same logits (float32 to ~1e-6, float16 to ~1e-2) and the same tokenizer, with an Ollama
Modelfile beside it; and the errors, each naming the path and what to do.

Equalities and bookkeeping: on the tiny random generator of SmolLM2's architecture and tokenizer
(tests/conftest.py), its LoRA run trained once per session (`tiny_run`). bench/export.py measures the
same on the real SmolLM2 (docs/export.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.cli.main import main
from workbench.config import load_config
from workbench.errors import WorkbenchError
from workbench.models.gguf_export import GGUFExportError, architecture_problem, write_gguf
from workbench.models.registry import read_gguf
from workbench.requests import ExportRequest
from workbench.runfolder import RunError
from workbench.session import Workbench
from workbench.training.generator import load_trained_generator

CHATS = [
    [{"role": "system", "content": "Answer with a short phrase."},
     {"role": "user", "content": "Which river flows through Warsaw? Give 2 facts, 1 per line."}],
    [{"role": "user", "content": "Hello, world!  How are you, 123 times over?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a Norman king."},
     {"role": "assistant", "content": "William I"}, {"role": "user", "content": "And after him — qui?"}],
]


@pytest.fixture(scope="module")
def lora_run(tiny_run):
    return tiny_run("lora")


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Workbench:
    root = tmp_path_factory.mktemp("export")
    return Workbench(load_config(overrides=[f"training.output_root={root / 'runs'}", "models.device=cpu"]))


@pytest.fixture(scope="module")
def adapted(lora_run):
    """The run as workbench answers with it: base + adapter."""
    return load_trained_generator(lora_run.path, device="cpu")


def _chat_ids(tokenizer, chat) -> torch.Tensor:
    return tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]


def _logits(model, tokenizer) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(_chat_ids(tokenizer, chat)).logits for chat in CHATS]


def _max_difference(got: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    return max((a - b).abs().max().item() for a, b in zip(got, expected))


def test_merged_folder_loads_with_plain_transformers_and_answers_as_base_plus_adapter(bench, lora_run, adapted, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    (folder,) = bench.export_run(ExportRequest(run=lora_run.path, format="merged", output=tmp_path / "merged"))
    assert folder == tmp_path / "merged"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {p.name for p in folder.iterdir()}
    assert not list(tmp_path.glob(".merged.tmp-*"))
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template == adapted.tokenizer.chat_template
    assert all(torch.equal(_chat_ids(tokenizer, c), _chat_ids(adapted.tokenizer, c)) for c in CHATS)
    # merging re-rounds each float32 weight: ~1e-5 on these logits (the adapter moves them by ~1)
    assert _max_difference(_logits(model, tokenizer), _logits(adapted.model, adapted.tokenizer)) < 1e-3


@pytest.fixture(scope="module")
def gguf_f32(lora_run, tmp_path_factory, bench):
    """The run exported through the command line as a float32 GGUF: (printed text, paths)."""
    import contextlib
    import io

    output = tmp_path_factory.mktemp("gguf") / "f32"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", str(lora_run.path), "--format", "gguf", "--dtype", "f32", "--output", str(output),
                     "--set", "models.device=cpu"])
    assert code == 0
    return printed.getvalue(), output


def test_cli_prints_where_it_wrote_the_gguf_and_the_modelfile(gguf_f32, lora_run):
    printed, output = gguf_f32
    gguf = output / f"{lora_run.path.name}-f32.gguf"
    assert sorted(p.name for p in output.iterdir()) == sorted([gguf.name, "Modelfile"])
    assert f"GGUF written to {gguf}" in printed and f"Ollama Modelfile: {output / 'Modelfile'}" in printed
    assert f"llama-cli -m {gguf}" in printed and "ollama create NAME -f" in printed


def test_float32_gguf_reads_back_with_the_same_logits_tokenizer_and_chat_template(gguf_f32, adapted, lora_run):
    import gguf

    _, output = gguf_f32
    path = output / f"{lora_run.path.name}-f32.gguf"
    reader = gguf.GGUFReader(path)
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output_norm.weight", "blk.1.attn_q.weight", "blk.1.ffn_down.weight"} <= names
    assert "output.weight" not in names  # tied to the embeddings, as in SmolLM2: llama.cpp reads token_embd
    assert reader.fields["tokenizer.ggml.pre"].contents() == "gpt-2"  # llama.cpp's name for the GPT-2 split
    assert reader.fields["llama.attention.head_count_kv"].contents() == adapted.model.config.num_key_value_heads

    model, tokenizer = read_gguf(path)
    model.eval()
    assert tokenizer.chat_template == adapted.tokenizer.chat_template
    for chat in CHATS:
        assert _chat_ids(tokenizer, chat).tolist() == _chat_ids(adapted.tokenizer, chat).tolist()
    text = "Numbers 1234567 and  spaces, \n\n new lines, émigré, 🦙."
    assert tokenizer(text).input_ids == adapted.tokenizer(text).input_ids
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (
        adapted.tokenizer.bos_token_id, adapted.tokenizer.eos_token_id, adapted.tokenizer.pad_token_id)
    # the query and key rows are permuted to llama.cpp's layout and back: float32 comes back exactly
    assert _max_difference(_logits(model, tokenizer), _logits(adapted.model, adapted.tokenizer)) < 1e-4


def test_modelfile_names_the_gguf_the_chat_format_the_system_prompt_and_stops(gguf_f32, lora_run):
    _, output = gguf_f32
    text = (output / "Modelfile").read_text()
    assert f"FROM ./{lora_run.path.name}-f32.gguf\n" in text
    assert "TEMPLATE \"\"\"{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n" in text
    assert f'SYSTEM """{load_config().generation.system_prompt}"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|im_start|>"' in text
    assert "PARAMETER temperature 0\n" in text


def test_float16_gguf_is_half_the_size_and_close(bench, lora_run, gguf_f32, tmp_path):
    import gguf

    written = bench.export_run(ExportRequest(run=lora_run.path, format="gguf", output=tmp_path / "f16"))
    path, modelfile = written
    assert path.name.endswith("-f16.gguf") and modelfile.name == "Modelfile"
    f32 = gguf_f32[1] / f"{lora_run.path.name}-f32.gguf"
    assert path.stat().st_size < 0.6 * f32.stat().st_size
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(path).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32  # norms stay float32, as llama.cpp keeps them
    # every weight is the float32 file's, rounded to float16 (the float32 file reads back exactly, above;
    # reading this one back through transformers too would take another 16 s for the tokenizer alone)
    exact = {t.name: np.asarray(t.data, dtype=np.float32) for t in gguf.GGUFReader(f32).tensors}
    rounded = {t.name: np.asarray(t.data, dtype=np.float32) for t in gguf.GGUFReader(path).tensors}
    assert rounded.keys() == exact.keys()
    for name, weight in rounded.items():
        assert np.allclose(weight, exact[name].astype(np.float16).astype(np.float32), rtol=0, atol=0), name
    assert any(not np.array_equal(rounded[name], exact[name]) for name in rounded), "float16 rounds some weights"


def test_default_output_folder_is_under_the_output_root(bench, lora_run):
    request = ExportRequest(run=lora_run.path, format="merged")
    assert bench.export_folder(request) == (Path(bench.config.training.output_root) / "exports"
                                            / f"{lora_run.path.name}-merged")


def test_errors_name_the_path_and_what_to_do(bench, lora_run, tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    with pytest.raises(RunError, match=f"{missing}: no such run folder"):
        bench.export_run(ExportRequest(run=missing, format="gguf", output=tmp_path / "out"))

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match=f"{busy} is not empty; choose another --output"):
        bench.export_run(ExportRequest(run=lora_run.path, format="gguf", output=busy))
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    with pytest.raises(WorkbenchError, match="--dtype applies to --format gguf"):
        bench.export_run(ExportRequest(run=lora_run.path, format="merged", dtype="f16", output=tmp_path / "m"))

    reward = _copy_run(lora_run.path, tmp_path / "reward-run", kind="reward")
    assert main(["export", str(reward), "--format", "merged", "--output", str(tmp_path / "r")]) == 2
    assert f"{reward}: a reward run; `wb export` takes a generator run" in capsys.readouterr().err

    prompt = _copy_run(lora_run.path, tmp_path / "prompt-run", peft_type="PROMPT_TUNING")
    with pytest.raises(RunError, match="adds modules to the model.*export a LoRA, IA3 or full-finetuning run"):
        bench.export_run(ExportRequest(run=prompt, format="merged", output=tmp_path / "p"))


def test_a_gemma_run_is_refused_for_gguf_before_loading_and_merged_is_offered(lora_run, bench, tmp_path):
    from transformers import Gemma3TextConfig

    gemma = tmp_path / "gemma"
    Gemma3TextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=1, head_dim=16, architectures=["Gemma3ForCausalLM"]).save_pretrained(gemma)
    run = _copy_run(lora_run.path, tmp_path / "gemma-run", model=str(gemma))  # no weights: refused before loading
    with pytest.raises(GGUFExportError, match=f"{run}: the model is Gemma3ForCausalLM .*--format merged"):
        bench.export_run(ExportRequest(run=run, format="gguf", output=tmp_path / "g"))
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize(("change", "problem"), [
    ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "'llama3' RoPE"),
    ({"attention_bias": True}, "biases"),
])
def test_llama_variants_the_writer_does_not_map_are_refused(adapted, change, problem):
    config = adapted.model.config.to_dict() | change
    assert problem in architecture_problem(type(adapted.model.config)(**config))


def test_a_weight_beyond_float16_is_refused_and_no_file_is_left(adapted, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(adapted.model.config)
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = 1e6
    with pytest.raises(GGUFExportError, match="'model.layers.0.mlp.up_proj.weight' holds values beyond float16's range; "
                                              "export with --dtype f32"):
        write_gguf(model, adapted.tokenizer, tmp_path / "model.gguf", "f16")
    assert list(tmp_path.iterdir()) == []


def _copy_run(source: Path, target: Path, kind: str | None = None, model: str | None = None,
              peft_type: str | None = None) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config["kind"] = kind or config["kind"]
    config["options"]["model"] = model or config["options"]["model"]
    (target / "config.json").write_text(json.dumps(config))
    if peft_type:
        adapter = json.loads((target / "adapter" / "adapter_config.json").read_text())
        (target / "adapter" / "adapter_config.json").write_text(json.dumps(adapter | {"peft_type": peft_type}))
    return target
