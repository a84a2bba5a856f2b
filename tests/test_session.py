"""The session: one object under every face. Its model pool shares a model while anyone holds it and
keeps recent ones within a budget; asking streams side-by-side answers with failures in their columns."""

from __future__ import annotations

import gc

import pytest
import torch

from workbench.config import ConfigError, load_config
from workbench.errors import Failure
from workbench.models.pool import ModelPool
from workbench.requests import StrategyOptions
from workbench.session import Workbench


class Loads:
    """A loader that counts its calls, making 1 MB float32 modules."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> torch.nn.Module:
        self.calls += 1
        return torch.nn.Linear(512, 512, bias=False)  # 1 MiB of parameters


def test_a_model_in_use_is_shared_and_never_unloaded_behind_its_user():
    pool, load = ModelPool(budget_mb=1), Loads()
    held = pool.get("a", load)
    for key in "bcd":  # each load pushes older models out of what the pool keeps
        pool.get(key, Loads())
    assert pool.get("a", load) is held and load.calls == 1  # still held by the test: the same copy, not a second
    assert "a" in pool.loaded()


def test_models_nobody_holds_are_kept_within_the_budget_then_let_go():
    pool, first = ModelPool(budget_mb=2), Loads()
    pool.get("first", first)
    pool.get("second", Loads())
    pool.get("first", first)  # kept, and now the most recently used
    assert first.calls == 1
    pool.get("third", Loads())  # over 2 MB: the least recently used ("second") goes
    gc.collect()
    assert sorted(pool.loaded()) == ["first", "third"] and pool.kept_mb() == pytest.approx(2.0)
    pool.get("fourth", Loads())
    pool.get("fifth", Loads())
    gc.collect()
    pool.get("first", first)  # let go since, and held by nobody: loaded again
    assert first.calls == 2


def test_a_session_with_changed_settings_shares_the_models():
    bench = Workbench(models=ModelPool(budget_mb=1))
    changed = bench.updated({"retrieval.k": 7})
    assert changed.models is bench.models and changed.config.retrieval.k == 7 and bench.config.retrieval.k != 7


def test_streamed_answers_name_their_columns_first_and_keep_a_failure_in_its_own(config):
    bench = Workbench(config.updated({"generation.max_new_tokens": 8}), models=ModelPool.default())
    stream = bench.ask("Who ruled the duchy of Normandy?", ["zero-shot", "rag"], StrategyOptions(), stream=True)
    assert stream.labels == ["zero-shot", "rag"]  # before anything is generated
    pieces, finished = [], {}
    for column, item in stream:
        if isinstance(item, str):
            pieces.append(column)
        else:
            finished[column] = item
    assert isinstance(finished[1], Failure) and "need an index" in finished[1].describe()
    assert finished[0].text and set(pieces) == {0}
    [outcome] = bench.ask("Who ruled the duchy of Normandy?", ["zero-shot"])
    assert outcome.answers[0].text == finished[0].text  # greedy: streamed or not, the same answer


def test_a_method_setting_names_a_registered_method():
    """The method settings are checked against the registries when a session starts (YAML cannot list
    them): an unknown name is one message with the choices, whichever face the config came through."""
    for key, known in (("training.generator.method", "prefix-tuning"), ("training.classifier.method", "last-n"),
                       ("estimate.method", "qlora")):
        config = load_config(overrides=[f"{key}=no-such-method"])
        with pytest.raises(ConfigError, match=rf"{key}: unknown value 'no-such-method' \(choose from .*{known}"):
            Workbench(config)
        assert known in Workbench.setting_choices(key)
