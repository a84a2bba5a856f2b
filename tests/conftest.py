"""Shared fixtures: the real embedded models (loaded once per session, conversion cached in
$WORKBENCH_HOME), a tiny random model of the generator's architecture for tests of bookkeeping and
equality, the demo corpus, and the shared data sets (skipped when ../shared/data is absent).

Torch runs on TORCH_THREADS threads in the suite and in every process it starts (OMP_NUM_THREADS)."""

from __future__ import annotations

import os
from pathlib import Path

# Before torch is imported anywhere: the threads of this process and, through the environment, of every
# `wb` command, job and server the tests start.
# Under pytest-xdist (`make test` runs two workers on two cores) each worker takes its share of the cores.
TORCH_THREADS = max(1, 2 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = str(TORCH_THREADS)

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from workbench.config import CONFIG_ENV, load_config, shipped_config  # noqa: E402

torch.set_num_threads(TORCH_THREADS)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMALLER_GENERATOR = Path(__file__).resolve().parent / "smaller-generator.yaml"
# A random model of SmolLM2-135M-Instruct's architecture, 2 blocks of width 64 instead of 30 of 576, with
# its tokenizer, vocabulary and chat template (so prompts and answers are rendered as for the real one).
# The blocks get a larger initial spread than the embeddings (tied to the output layer, as in the real
# model): otherwise a random model only repeats the last prompt token, and no answer differs from another.
TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "head_dim": 16, "initializer_range": 0.2}
TINY_EMBEDDING_STD = 0.02


# How `make test`'s two pytest-xdist workers share the tests (see pytest_xdist_make_scheduler): by file, so
# a module's or the session's costly fixtures (a trained run, an index) are built once, not in each worker;
# the files that use the demo run (a minute of training) together; and the cases of the tests named here
# (each a whole experiment of its own, sharing nothing) apart, on whichever worker is free.
DEMO_FILES = ("tests/test_demo.py", "tests/ui/test_browser.py", "tests/serve/test_api.py")
SPREAD_TESTS = ("test_every_shipped_experiment_runs_its_smoke_version",)


def _scope(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    if name.split("[")[0] in SPREAD_TESTS:
        return nodeid
    return "demo" if path in DEMO_FILES else path


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with our scopes, handed out in collection order (see below). (xdist's own
    `xdist_group` marks do nothing on pytest 9: xdist 3.8 renames a test by an attribute pytest 9 no
    longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    config.option.loadscopereorder = False  # xdist would start the scopes with most tests, leaving the long single ones last
    return ByFile(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the scopes holding a test marked `long` come first (the order is otherwise kept),
    so that no worker is left alone with a long test at the end."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    long_scopes = {_scope(item.nodeid) for item in items if item.get_closest_marker("long")}
    items.sort(key=lambda item: _scope(item.nodeid) not in long_scopes)


@pytest.fixture(scope="session", autouse=True)
def smaller_generator():
    """Every command, page and job of the suite loads SmolLM2-135M-Instruct (a config file merged over the
    defaults, as $WORKBENCH_CONFIG gives one to every command); Gemma 3 270M is tested on its own."""
    before = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(SMALLER_GENERATOR)
    yield
    if before is None:
        os.environ.pop(CONFIG_ENV, None)
    else:
        os.environ[CONFIG_ENV] = before


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"needs the shared data sets in {SHARED_DATA} (absent on this machine)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedder():
    from workbench.models import EMBEDDER, load_embedder

    return load_embedder(EMBEDDER)


@pytest.fixture(scope="session")
def generator():
    """The embedded SmolLM2-135M-Instruct; the first session converts it once (~25 s), later ones reuse it."""
    from workbench.models import GENERATOR, load_generator

    return load_generator(GENERATOR)


def build_tiny_generator(folder: Path, seed: int = 0) -> str:
    """Save the tiny random generator (see TINY_SHAPE) to `folder`; returns the folder as a model name."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from workbench.models import GENERATOR
    from workbench.models.registry import resolve

    source = resolve(GENERATOR, "generator")
    config = AutoConfig.from_pretrained(source)
    config.update(TINY_SHAPE)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0, TINY_EMBEDDING_STD)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory) -> str:
    """A folder holding a random generator of SmolLM2's architecture, shrunk (about 3.2 M parameters, most of
    them the embeddings of its 49,152-token vocabulary), usable wherever a model name is: for tests whose
    assertions are equalities and bookkeeping (resumed = uninterrupted, batched = one at a time, frozen
    weights unchanged, what a run records), not what a pretrained model knows."""
    return build_tiny_generator(tmp_path_factory.mktemp("tiny-generator") / "model")


# The same for the embedded MiniLM (a BERT encoder): 2 blocks of width 64 instead of 6 of 384, its vocabulary.
TINY_ENCODER_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """A folder holding a random encoder of MiniLM's architecture, shrunk, with its tokenizer: a classifier
    backbone (`training.classifier.backbone`) for tests of equalities and bookkeeping."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from workbench.models.registry import embedder_source

    folder = tmp_path_factory.mktemp("tiny-encoder") / "model"
    config = AutoConfig.from_pretrained(embedder_source())
    config.update(TINY_ENCODER_SHAPE)
    torch.manual_seed(0)
    AutoModel.from_config(config, dtype=torch.float32).save_pretrained(folder)
    AutoTokenizer.from_pretrained(embedder_source()).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny(tiny_generator):
    """The tiny generator loaded once (the process's shared copy, as `load_generator` gives every caller)."""
    from workbench.models import load_generator

    return load_generator(tiny_generator, "cpu")


@pytest.fixture(scope="session")
def demo_corpus():
    from workbench.corpus import load_demo_corpus

    return load_demo_corpus()


@pytest.fixture
def config(tmp_path):
    """The default config with indexes and training runs written under the test's tmp_path."""
    return load_config(overrides=[f"index.root={tmp_path / 'indexes'}", f"training.output_root={tmp_path / 'runs'}"])


@pytest.fixture(scope="session")
def loop():
    """Loop settings for tests: 2 epochs of batch 4 on CPU, no checkpoints; overridable per test."""

    from workbench.training.loop import LoopSettings

    def settings(**overrides) -> LoopSettings:
        defaults = {"epochs": 2, "batch_size": 4, "learning_rate": 1e-4, "seed": 0, "device": "cpu", "checkpoint_every": 0}
        return LoopSettings(**{**defaults, **overrides})

    return settings


QA_SYSTEM = "Answer with a short phrase."


@pytest.fixture(scope="session")
def qa(demo_corpus):
    """(train, eval) prompt–completion examples from demo QA pairs, question only."""
    from workbench.training.examples import qa_examples

    examples = qa_examples(demo_corpus.qa_pairs[:16], QA_SYSTEM)
    return examples[:12], examples[12:]


# Learning rates at which each generator method's training loss falls within two short epochs.
LEARNING_RATES = {"lora": 2e-3, "qlora": 2e-3, "prompt-tuning": 3e-2, "prefix-tuning": 1e-2, "ia3": 2e-2, "adapter": 2e-3, "full": 5e-5}


def generator_options(loop, method: str, model: str, **overrides):
    """A generator run of a few steps: 64-token examples, 8 virtual tokens, 8-token answers."""
    from workbench.training.generator import GeneratorOptions

    settings = {"max_length": 64, "eval_generate": 0, "virtual_tokens": 8, "max_new_tokens": 8}
    return GeneratorOptions(loop=loop(learning_rate=LEARNING_RATES[method]), method=method, model=model,
                            **{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_run(tiny_generator, qa, loop, tmp_path_factory):
    """`tiny_run(method)`: a finished run of `method` on the tiny generator, trained once per session for every
    test that needs one: 2 epochs of 12 demo QA pairs (3 steps each), scored on 4 held-out ones. The LoRA
    run also answers 2 held-out questions at each epoch's end and probes forgetting on 4 training prompts."""
    from workbench.training.generator import train_generator

    runs = {}

    def run(method: str):
        if method not in runs:
            train, held_out = qa
            lora = method == "lora"
            options = generator_options(loop, method, tiny_generator, eval_generate=2 if lora else 0)
            runs[method] = train_generator(train, options, tmp_path_factory.mktemp(method) / "run", held_out,
                                           general=train[:4] if lora else None)
        return runs[method]

    return run


def own_documents_config(folder: Path, strategies: list[str]) -> Path:
    """A config file that brings its own experiment to `wb study` (and to a server's Study page): the shipped
    own-documents.yaml with only the strategies named, over the suite's generator (as --config replaces
    $WORKBENCH_CONFIG); for tests that need a study's steps but not every strategy."""
    shipped = yaml.safe_load(shipped_config("experiments/own-documents.yaml").read_text())
    shipped["experiment"]["strategies"] = [s for s in shipped["experiment"]["strategies"]
                                           if s.get("name", s["strategy"]) in strategies]
    path = folder / "own-documents-config.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(SMALLER_GENERATOR.read_text()), **shipped}))
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """(config, result): the demo run once per session under a folder of its own, at smoke size (2 questions,
    a LoRA adapter of 2 steps on 16 examples, 4 answer tokens): tests/test_demo.py checks what this first run
    did, and the browser tests' server (tests/ui/test_browser.py) answers with its index and adapter."""
    from workbench.demo import DemoSettings, run_demo

    root = tmp_path_factory.mktemp("demo")
    config = load_config(overrides=[f"index.root={root / 'indexes'}", f"training.output_root={root / 'runs'}"])
    return config, run_demo(config, DemoSettings(questions=2, adapter_examples=16, adapter_steps=2, max_new_tokens=4))


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
    """(index, root): a real index named `normans` over the paragraphs of the first demo article (Normans),
    built once per session; tests only read it."""
    root = tmp_path_factory.mktemp("indexes")
    config = load_config(overrides=[f"index.root={root}"])
    documents = [d for d in demo_corpus.documents if d.metadata["title"] == demo_corpus.documents[0].metadata["title"]]
    indexing.build_index("normans", documents, config=config, root=root)
    return indexing.open_index("normans", root=root), root
