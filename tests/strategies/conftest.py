"""Fixtures for the strategy tests: the real embedded generator with a short answer budget, tiny real
adapters (LoRA, prompt tuning, IA3 saved with peft; a bottleneck adapter), and a small real index."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.corpus import QAPair
from workbench.generation import GenerationEngine, GenerationSettings, load_prompts

SYSTEM = "Answer the question with a short phrase."


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The test machine's 2 cores are shared: with another process busy, two torch threads per tiny
    generation spin against each other (measured 6x slower). One thread here, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def engine(generator) -> GenerationEngine:
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


def _save_lora(folder, seed: int, base_name: str | None) -> None:
    """A LoRA with random (non-zero) weights on a private copy of the base model, saved with peft."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(_private_base(), LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(folder)
    if base_name is not None:  # what our trainer records: the registry name given to load_generator
        config_path = folder / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base_name
        config_path.write_text(json.dumps(config))


@pytest.fixture(scope="session")
def lora_adapters(tmp_path_factory):
    """Two adapters: one records the resolved base folder (peft's default), one the registry name."""
    from workbench.models import GENERATOR

    root = tmp_path_factory.mktemp("adapters")
    _save_lora(root / "alpha", seed=1, base_name=None)
    _save_lora(root / "beta", seed=2, base_name=GENERATOR)
    return root / "alpha", root / "beta"


def _private_base():
    """A copy of the base model of our own (float32), not the process-wide shared one."""
    from transformers import AutoModelForCausalLM

    from workbench.models import GENERATOR
    from workbench.models.registry import resolve

    return AutoModelForCausalLM.from_pretrained(resolve(GENERATOR, "generator"))


@pytest.fixture(scope="session")
def private_base():
    """`private_base()`: a fresh copy of the base model, to check the shared one against."""
    return _private_base


@pytest.fixture(scope="session")
def bottleneck_adapter(tmp_path_factory):
    """A bottleneck adapter with random (non-zero) weights, saved the way `wb train --method adapter` does."""
    from workbench.models import GENERATOR
    from workbench.models.bottleneck import BottleneckSettings, add_bottleneck, save_bottleneck

    torch.manual_seed(3)
    model = _private_base()
    settings = BottleneckSettings(size=16, base_model_name_or_path=GENERATOR)
    with torch.no_grad():
        for layer in add_bottleneck(model, settings):
            layer.up.weight.normal_(0, 0.05)  # the up-projection starts at zero: move it
    folder = tmp_path_factory.mktemp("bottleneck") / "adapter"
    save_bottleneck(model, folder, settings)
    return folder


@pytest.fixture(scope="session")
def peft_adapter_factory(tmp_path_factory):
    """`make(kind)`: a prompt-tuning or IA3 adapter with non-neutral weights, saved with peft."""
    from peft import IA3Config, PromptTuningConfig, get_peft_model

    from workbench.models import GENERATOR

    def make(kind: str):
        torch.manual_seed(4)
        config = (PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4) if kind == "prompt-tuning"
                  else IA3Config(task_type="CAUSAL_LM", init_ia3_weights=False))
        model = get_peft_model(_private_base(), config)
        folder = tmp_path_factory.mktemp(kind) / "adapter"
        model.save_pretrained(folder)
        config_path = folder / "adapter_config.json"
        config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "base_model_name_or_path": GENERATOR}))
        return folder

    return make


@pytest.fixture(scope="session")
def indexing():
    try:
        import workbench.indexing as indexing
        from workbench.indexing import build_index, open_index  # noqa: F401  (the contract the tests use)
    except ImportError as exc:
        pytest.skip(f"workbench.indexing is not available yet ({exc}); RAG and similar-shot tests need it")
    return indexing


@pytest.fixture(scope="session")
def small_index(indexing, demo_corpus, tmp_path_factory):
    """A real index over the paragraphs of the first article (Normans)."""
    from workbench.config import load_config

    root = tmp_path_factory.mktemp("indexes")
    config = load_config(overrides=[f"index.root={root}"])
    documents = [d for d in demo_corpus.documents if d.metadata["title"] == demo_corpus.documents[0].metadata["title"]]
    indexing.build_index("normans", documents, config=config, root=root)
    return indexing.open_index("normans", root=root), root
