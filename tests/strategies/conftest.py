"""Fixtures for the strategy tests: an engine on the tiny random generator (tests/conftest.py) with a short
answer budget, for what strategies record and the equalities they keep (batched = one at a time, an
adapter switched on the shared model = the adapter loaded alone); adapters with random weights on it (LoRA,
prompt tuning, IA3 saved with peft; a bottleneck adapter); LoRA adapters of the real SmolLM2 for the
command-line tests, which answer with the real model. The small real index is the session's (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.corpus import QAPair
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts

SYSTEM = "Answer the question with a short phrase."


@pytest.fixture(scope="session")
def engine(tiny) -> GenerationEngine:
    return GenerationEngine(tiny, GenerationSettings(max_new_tokens=8, batch_size=4))


@pytest.fixture(scope="session")
def real_engine(generator) -> GenerationEngine:
    """The real SmolLM2, for what only a pretrained model gets right (which label is likely)."""
    return GenerationEngine(generator, GenerationSettings(max_new_tokens=8, batch_size=4))


@pytest.fixture(scope="session")
def templates():
    return load_prompts()


@pytest.fixture(scope="session")
def common(engine, templates) -> dict:
    """The arguments every strategy takes."""
    return {"engine": engine, "templates": templates, "system_prompt": SYSTEM}


@pytest.fixture(scope="session")
def questions(demo_corpus) -> list[QAPair]:
    """Questions of different lengths (so a batch needs padding), from three articles."""
    pairs = demo_corpus.qa_pairs
    return [pairs[0], pairs[1], pairs[300], pairs[301], pairs[600], pairs[601]]


def _save_lora(folder, seed: int, base: str, base_name: str | None) -> None:
    """A LoRA with random (non-zero) weights on a private copy of the model `base`, saved with peft."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(_private_base(base), LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(folder)
    if base_name is not None:  # what our trainer records: the registry name given to load_generator
        config_path = folder / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base_name
        config_path.write_text(json.dumps(config))


@pytest.fixture(scope="session")
def lora_adapters(tmp_path_factory, tiny_generator):
    """Two adapters of the tiny generator (whose registry name is its folder), with different weights."""
    root = tmp_path_factory.mktemp("adapters")
    _save_lora(root / "alpha", 1, tiny_generator, base_name=None)
    _save_lora(root / "beta", 2, tiny_generator, base_name=tiny_generator)
    return root / "alpha", root / "beta"


@pytest.fixture(scope="session")
def real_lora_adapters(tmp_path_factory):
    """Two adapters of the real SmolLM2: one records the resolved base folder (peft's default), one the
    registry name; the command line loads both."""
    from workbench.models import GENERATOR

    root = tmp_path_factory.mktemp("real-adapters")
    _save_lora(root / "alpha", 1, GENERATOR, base_name=None)
    _save_lora(root / "beta", 2, GENERATOR, base_name=GENERATOR)
    return root / "alpha", root / "beta"


def _private_base(name: str):
    """A copy of the model `name` of our own (float32), not the process-wide shared one."""
    from transformers import AutoModelForCausalLM

    from workbench.models.registry import resolve

    return AutoModelForCausalLM.from_pretrained(resolve(name, "generator"))


@pytest.fixture(scope="session")
def private_base(tiny_generator):
    """`private_base()`: a fresh copy of the tiny generator, to check the shared one against."""
    return lambda: _private_base(tiny_generator)


@pytest.fixture(scope="session")
def bottleneck_adapter(tmp_path_factory, private_base, tiny_generator):
    """A bottleneck adapter with random (non-zero) weights, saved the way `wb train --method adapter` does."""
    from workbench.models.bottleneck import BottleneckSettings, add_bottleneck, save_bottleneck

    torch.manual_seed(3)
    model = private_base()
    settings = BottleneckSettings(size=16, base_model_name_or_path=tiny_generator)
    with torch.no_grad():
        for layer in add_bottleneck(model, settings):
            layer.up.weight.normal_(0, 0.05)  # the up-projection starts at zero: move it
    folder = tmp_path_factory.mktemp("bottleneck") / "adapter"
    save_bottleneck(model, folder, settings)
    return folder


@pytest.fixture(scope="session")
def peft_adapter_factory(tmp_path_factory, private_base, tiny_generator):
    """`make(kind)`: a prompt-tuning or IA3 adapter of the tiny generator with non-neutral weights, saved with peft."""
    from peft import IA3Config, PromptTuningConfig, get_peft_model

    def make(kind: str):
        torch.manual_seed(4)
        config = (PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4) if kind == "prompt-tuning"
                  else IA3Config(task_type="CAUSAL_LM", init_ia3_weights=False))
        model = get_peft_model(private_base(), config)
        folder = tmp_path_factory.mktemp(kind) / "adapter"
        model.save_pretrained(folder)
        config_path = folder / "adapter_config.json"
        config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "base_model_name_or_path": tiny_generator}))
        return folder

    return make
