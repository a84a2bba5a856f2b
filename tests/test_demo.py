"""The demo end to end with the real models: index, adapter, every strategy; then reused, not redone.
The first run is the session's `demo` fixture (tests/conftest.py), whose index and adapter the browser
tests serve too."""

from __future__ import annotations

import pytest

from workbench.cli.main import main
from workbench.demo import DEMO_INDEX, DemoSettings, prepare_demo
from workbench.runfolder import RunDir
from workbench.strategies import STRATEGY_NAMES


@pytest.mark.long
def test_demo_answers_with_every_strategy_then_reuses_index_and_adapter(demo, capsys):
    config, first = demo

    assert [pair.topic for pair in first.questions] == ["Normans", "Computational_complexity_theory"]
    assert first.adapter_trained and (first.adapter / "COMPLETE").is_file()
    assert RunDir(first.adapter).config().index == DEMO_INDEX  # what Compare compares with the index it answers on
    assert first.index.last_update.chunks_embedded == first.index.last_update.chunks_total > 0
    labels = [outcome.label for outcome in first.outcomes]
    assert labels == ["zero-shot", "few-shot", "rag", "finetuned[demo]", "rag+finetuned[demo]"]
    assert all(outcome.error is None and len(outcome.answers) == 2 for outcome in first.outcomes), \
        [str(o.error) for o in first.outcomes]
    by_label = {outcome.label: outcome.answers[0] for outcome in first.outcomes}
    assert by_label["rag"].sources and all(s.doc_id.startswith("Normans/") for s in by_label["rag"].sources[:1])
    assert by_label["finetuned[demo]"].adapter == "demo" and by_label["zero-shot"].adapter is None
    assert all(d.question != first.questions[0].question for d in by_label["few-shot"].demonstrations)

    adapter_files = {p: p.stat().st_mtime_ns for p in (first.adapter / "adapter").iterdir()}
    code = main(["demo", "--headless", "--set", f"index.root={config.index.root}",
                 "--set", f"training.output_root={config.training.output_root}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "0 embedded now" in out and "trained earlier, reused" in out
    assert {p: p.stat().st_mtime_ns for p in (first.adapter / "adapter").iterdir()} == adapter_files
    for name in STRATEGY_NAMES:
        assert name in out
    assert "error:" not in out

    # An unfinished demo run from other settings (an older version, say) is started over, not a dead end.
    (first.adapter / "COMPLETE").unlink()
    (first.adapter / "config.json").write_text('{"kind": "generator", "options": {"method": "older"}}')
    again = prepare_demo(config, DemoSettings(questions=2, adapter_examples=16, adapter_steps=2, max_new_tokens=4))
    assert again.adapter_trained and (again.adapter / "COMPLETE").is_file()
