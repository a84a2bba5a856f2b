"""Shared fixtures: the real embedded models (loaded once per session, conversion cached in
$WORKBENCH_HOME), the demo corpus, and the shared data sets (skipped when ../shared/data is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.config import CONFIG_ENV, load_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMALLER_GENERATOR = Path(__file__).resolve().parent / "smaller-generator.yaml"


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
        defaults = {"epochs": 2, "batch_size": 4, "learning_rate": 1e-4, "seed": 0, "device": "cpu"}
        return LoopSettings(**{**defaults, **overrides})

    return settings
