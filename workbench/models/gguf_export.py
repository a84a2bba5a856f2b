"""A Llama-architecture model in memory (transformers) to one GGUF file for llama.cpp and Ollama.

What llama.cpp's own converter (convert_hf_to_gguf.py, `LlamaModel`) writes for such a model, in float16
or float32: the hyper-parameters under `llama.*`, each weight under its llama.cpp name (gguf's
`TensorNameMap`), the query and key projections permuted from Hugging Face's rotary layout to llama.cpp's
(interleaved pairs per head), the byte-level BPE tokenizer (tokens, their types, merges, special ids,
whether to add BOS) and the chat template. Norm weights stay float32, as llama.cpp keeps them.

Supported: `LlamaForCausalLM` with default RoPE and no biases, and a byte-level BPE tokenizer that splits
text the GPT-2 way (`gpt-2`) or GPT-2 with single digits (`smollm`): SmolLM2 and its kind. Anything else is
a `GGUFExportError` saying what is not supported (a merged Hugging Face folder holds any model).

The file is written through a temporary sibling and renamed into place, tensor by tensor, so a large
model is never held twice in memory and a killed export leaves no half file under the final name.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.errors import WorkbenchError
from workbench.progress import ProgressCallback, start_stage
from workbench.requests import GGUF_DTYPES

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)


class GGUFExportError(WorkbenchError):
    """The model or its tokenizer cannot be written as a GGUF file (the message says why)."""


@dataclass(frozen=True)
class _Tensor:
    name: str  # llama.cpp's name
    source: str  # the Hugging Face parameter it comes from
    shape: tuple[int, ...]
    float16: bool  # stored as float16 (else float32)


def architecture_problem(config: Any) -> str | None:
    """Why a model of this transformers config cannot be written as GGUF here, or None when it can.
    Read from the config alone, so a caller can refuse before loading any weights."""
    architectures = list(getattr(config, "architectures", None) or [])
    model_type = getattr(config, "model_type", "?")
    if not set(architectures) & set(SUPPORTED_ARCHITECTURES) and model_type != "llama":
        named = ", ".join(architectures) or model_type
        return (f"the model is {named} ({model_type}); --format gguf writes the Llama architecture only "
                f"({', '.join(SUPPORTED_ARCHITECTURES)}, e.g. SmolLM2)")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "the model's attention or MLP layers have biases, which this GGUF writer does not map"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    if rope_type not in (None, "default"):
        return f"the model scales its rotary embeddings ('{rope_type}' RoPE), which this GGUF writer does not write"
    return None


def write_gguf(model: Any, tokenizer: Any, path: Path, dtype: str = "f16", name: str | None = None,
               description: str | None = None, progress: ProgressCallback | None = None) -> Path:
    """Write `model` (a transformers causal LM) and `tokenizer` to the GGUF file `path`, weights in
    `dtype` (f16 or f32). Returns `path`."""
    import gguf

    if dtype not in GGUF_DTYPES:
        raise GGUFExportError(f"--dtype {dtype}: choose {' or '.join(GGUF_DTYPES)}")
    config = model.config
    problem = architecture_problem(config)
    if problem:
        raise GGUFExportError(f"{problem}; --format merged writes a Hugging Face folder for any model")
    hidden, heads = config.hidden_size, config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    vocab_size = model.get_input_embeddings().weight.shape[0]
    vocabulary = tokenizer_metadata(tokenizer, vocab_size)
    state = model.state_dict()
    tensors = _tensors(state, config.num_hidden_layers, dtype == "f16")

    writer = gguf.GGUFWriter(None, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or getattr(config, "_name_or_path", "") or "model")
    if description:
        writer.add_description(description)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_tokenizer(writer, vocabulary)

    for tensor in tensors:
        dtype_of = np.dtype(np.float16 if tensor.float16 else np.float32)
        writer.add_tensor_info(tensor.name, tensor.shape, dtype_of, dtype_of.itemsize * math.prod(tensor.shape))

    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    writing = start_stage(progress, "writing GGUF", len(tensors))
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in tensors:
            writer.write_tensor_data(_converted(tensor, state[tensor.source], heads, kv_heads))
            writing.advance()
        for handle in writer.fout or ():
            handle.flush()
            os.fsync(handle.fileno())
        writer.close()
        os.replace(tmp, path)
    except OSError as exc:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise GGUFExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


def _rope_theta(config: Any) -> float:
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and "rope_theta" in rope:
        return rope["rope_theta"]
    return getattr(config, "rope_theta", 10000.0)


def _tensors(state: dict[str, torch.Tensor], blocks: int, float16: bool) -> list[_Tensor]:
    """What goes into the file, in order: each weight under its llama.cpp name. A tied output layer
    (the embeddings read back) is left out, as llama.cpp reads `token_embd` then; an untied one is kept."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    tied = "lm_head.weight" in state and "model.embed_tokens.weight" in state and torch.equal(
        state["lm_head.weight"], state["model.embed_tokens.weight"])
    tensors = []
    for source, value in state.items():
        if source.endswith("rotary_emb.inv_freq") or (tied and source == "lm_head.weight"):
            continue
        name = names.get_name(source, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFExportError(f"the model's weight '{source}' has no llama.cpp name; --format merged writes it as is")
        # llama.cpp keeps 1-D tensors (the norms) in float32 whatever the file type
        tensors.append(_Tensor(name, source, tuple(value.shape), float16 and value.dim() > 1))
    return tensors


def _converted(tensor: _Tensor, value: torch.Tensor, heads: int, kv_heads: int):
    value = value.detach().to("cpu", torch.float32)
    if tensor.name.endswith("attn_q.weight"):
        value = rotary_to_interleaved(value, heads)
    elif tensor.name.endswith("attn_k.weight"):
        value = rotary_to_interleaved(value, kv_heads)
    if tensor.float16:
        value = value.to(torch.float16)
        if not torch.isfinite(value).all():
            raise GGUFExportError(f"the weight '{tensor.source}' holds values beyond float16's range; "
                                  f"export with --dtype f32")
    return value.contiguous().numpy()


def rotary_to_interleaved(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """A query or key projection's rows from Hugging Face's rotary layout (each head's first half, then
    its second half, rotated together) to llama.cpp's (the two halves' rows interleaved in pairs)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).transpose(1, 2).reshape(weight.shape)




# ---- the tokenizer ----------------------------------------------------------------------------------

# How llama.cpp splits text before BPE, by the Hugging Face pre-tokenizer that does the same.
_PRE_TOKENIZERS = {
    "gpt-2": [{"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}],
    "smollm": [{"type": "Digits", "individual_digits": True}, {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}],
}


@dataclass(frozen=True)
class TokenizerMetadata:
    pre: str  # llama.cpp's name for how text is split before BPE
    tokens: list[str]
    token_types: list[int]  # gguf.TokenType values
    merges: list[str]
    special_ids: dict[str, int]  # bos, eos, unk, pad
    add_bos: bool
    add_eos: bool
    chat_template: str | None


def tokenizer_metadata(tokenizer: Any, vocab_size: int) -> TokenizerMetadata:
    """What the GGUF says about the tokenizer, for a byte-level BPE tokenizer (a `GGUFExportError` for
    any other kind). Ids the tokenizer does not use, up to the embedding's size, become unused padding."""
    import gguf

    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    model = backend.get("model") or {}
    if model.get("type") != "BPE" or backend.get("normalizer") is not None:
        raise GGUFExportError(f"the tokenizer is not a byte-level BPE one (it is {model.get('type')}"
                              f"{', with a normalizer' if backend.get('normalizer') else ''}); --format gguf "
                              f"writes byte-level BPE tokenizers only, --format merged writes any")
    pre = _pre_tokenizer_name(backend.get("pre_tokenizer"))
    vocab = tokenizer.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise GGUFExportError(f"the tokenizer has ids up to {max(vocab.values())} but the model's embedding only "
                              f"{vocab_size} rows")
    by_id = {index: token for token, index in vocab.items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        if index in added:
            tokens.append(added[index].content)
            types.append(gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED)
        elif index in by_id:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    special = {key: getattr(tokenizer, f"{key}_token_id", None) for key in ("bos", "eos", "unk", "pad")}
    plain, with_special = tokenizer("a", add_special_tokens=False).input_ids, tokenizer("a").input_ids
    add_bos = special["bos"] is not None and len(with_special) > len(plain) and with_special[0] == special["bos"]
    add_eos = special["eos"] is not None and len(with_special) > len(plain) and with_special[-1] == special["eos"]
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    return TokenizerMetadata(pre, tokens, [int(t) for t in types], merges,
                             {k: v for k, v in special.items() if v is not None}, add_bos, add_eos, template)


def _pre_tokenizer_name(pre_tokenizer: dict | None) -> str:
    steps = (pre_tokenizer or {}).get("pretokenizers", [pre_tokenizer] if pre_tokenizer else [])
    relevant = [{key: step.get(key) for key in ("type", "add_prefix_space", "use_regex", "individual_digits")
                 if key in step} for step in steps]
    for name, wanted in _PRE_TOKENIZERS.items():
        if relevant == wanted:
            return name
    kinds = " + ".join(step.get("type", "?") for step in steps) or "none"
    raise GGUFExportError(f"the tokenizer splits text with {kinds}, which llama.cpp is not told how to do here "
                          f"(supported: GPT-2's byte-level split, with or without single digits); "
                          f"--format merged writes any tokenizer")


def _add_tokenizer(writer: Any, vocabulary: TokenizerMetadata) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocabulary.pre)
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_types(vocabulary.token_types)
    writer.add_token_merges(vocabulary.merges)
    adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "unk": writer.add_unk_token_id,
              "pad": writer.add_pad_token_id}
    for key, token_id in vocabulary.special_ids.items():
        adders[key](token_id)
    writer.add_add_bos_token(vocabulary.add_bos)
    writer.add_add_eos_token(vocabulary.add_eos)
    if vocabulary.chat_template:
        writer.add_chat_template(vocabulary.chat_template)

