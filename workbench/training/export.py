"""A finetuned generator run, exported to use outside workbench.

- `merged`: a Hugging Face model folder (safetensors, tokenizer, chat template): the adapter of a LoRA or
  IA3 run folded into its base model (`workbench.training.merge`), or a full-finetuning run's model.
- `gguf`: the same merged model as one GGUF file for llama.cpp and Ollama (`workbench.models.gguf_export`,
  Llama-architecture models such as SmolLM2), with an Ollama Modelfile beside it
  (`workbench.models.ollama`).
"""

from __future__ import annotations

from pathlib import Path

from workbench.models.gguf_export import GGUFExportError, architecture_problem, write_gguf
from workbench.models.methods import ADAPTER_DIR, MODEL_DIR
from workbench.models.ollama import modelfile
from workbench.models.registry import resolve, unavailable
from workbench.ondisk import write_atomic
from workbench.progress import ProgressCallback
from workbench.requests import EXPORT_FORMATS
from workbench.runfolder import RunDir, RunError
from workbench.training.generator import load_merged_run, open_adapter
from workbench.training.merge import check_output, save_model_folder

MODELFILE = "Modelfile"


def export_run(run_path: Path, output: Path, format: str, dtype: str = "f16", system_prompt: str | None = None,
               temperature: float | None = 0.0, top_p: float | None = None,
               progress: ProgressCallback | None = None) -> list[Path]:
    """Write the generator run `run_path` to the folder `output` as `format` (`merged` or `gguf`, in
    `dtype`); returns the paths written: the model folder, or the GGUF file and its Modelfile (with
    `system_prompt` and the sampling settings `temperature` and `top_p`)."""
    if format not in EXPORT_FORMATS:
        raise RunError(f"--format {format}: choose {' or '.join(EXPORT_FORMATS)}")
    run = _finished_generator_run(Path(run_path))
    output = Path(output)
    check_output(output)
    if format == "gguf":
        _check_architecture(run)
    model, tokenizer = load_merged_run(run.path, device="cpu")
    model.eval()
    if format == "merged":
        return [save_model_folder(model, tokenizer, output)]
    output.mkdir(parents=True, exist_ok=True)
    gguf_file = output / f"{run.path.name}-{dtype}.gguf"
    options = run.config().options
    described = f"workbench {options.method} run {run.path.name} on {options.model}, merged"
    write_gguf(model, tokenizer, gguf_file, dtype, name=run.path.name, description=described, progress=progress)
    write_atomic(output / MODELFILE, modelfile(gguf_file.name, tokenizer, system_prompt, temperature, top_p))
    return [gguf_file, output / MODELFILE]


def _finished_generator_run(path: Path) -> RunDir:
    """The finished generator run at `path`, with weights a plain model can hold (a full model, or a
    LoRA/IA3 adapter that folds into the weights)."""
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder (give the folder `wb train generator` printed as its run)")
    run = RunDir.open(path)
    kind = run.config().kind
    if kind != "generator":
        raise RunError(f"{path}: a {kind} run; `wb export` takes a generator run (`wb train generator`)")
    if not (path / MODEL_DIR).is_dir():
        _, method = open_adapter(path / ADAPTER_DIR)
        if not method.can_merge:
            raise RunError(f"{path}: a '{method.name}' run adds modules to the model, which no plain model folder "
                           f"or GGUF file holds; export a LoRA, IA3 or full-finetuning run")
    return run


def _check_architecture(run: RunDir) -> None:
    """Refuse a model --format gguf cannot write before loading its weights."""
    from transformers import AutoConfig

    complete = run.path / MODEL_DIR
    name = str(complete) if complete.is_dir() else run.config().options.model
    try:
        config = AutoConfig.from_pretrained(resolve(name, "generator"))
    except OSError as exc:
        raise unavailable(name, exc) from None
    problem = architecture_problem(config)
    if problem:
        raise GGUFExportError(f"{run.path}: {problem}; --format merged writes a Hugging Face folder for any model")
