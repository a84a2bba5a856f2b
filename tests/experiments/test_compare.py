"""`wb compare` end to end on the demo corpus: real index, real training steps.

Every shipped experiment runs its smoke version through `wb compare --smoke`: what is asked is that each file
runs end to end, the same code on either generator, so on the tiny random one (tests/conftest.py; the index
and the classifiers' MiniLM stay real). The real SmolLM2 runs the shipped own-documents experiment's smoke
version (`wb study --smoke`, tests/test_study.py) and learns in the training and preference tests; its
results on the full experiments are bench/results/experiments. The machinery an engineer bets on is checked
on the tiny random generator too: the same items for every strategy, intervals and paired tests in the
report, cached runs keyed by their settings, a killed experiment resuming where it stopped, one broken
variant not stopping the others, and generation scored reply by reply. Smoke sizes: a handful of items, one
or two optimizer steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from workbench.cli.main import main
from workbench.config import load_config
from workbench.evaluation import metrics

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "configs" / "experiments").glob("*.yaml"))


def experiment_file(tmp_path: Path, task: str, variants: list[dict], data: dict | None = None, **sections) -> Path:
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump({
        "generation": {"max_new_tokens": 4},
        "training": {"output_root": str(tmp_path / "runs"), "max_steps": 1, "forgetting_items": 2,
                     "classifier": {"max_length": 64, "epochs": 1, "batch_size": 8}, "generator": {"max_length": 256, "eval_generate": 0}},
        "index": {"root": str(tmp_path / "indexes")},
        **sections,
        "experiment": {"name": f"test-{task}", "task": task, "data": {"eval_items": 4, "train_items": 24, **(data or {})},
                       "strategies": variants}}))
    return path


def compare(path: Path, *extra: str) -> tuple[int, dict]:
    output = path.parent / f"out-{path.stem}"
    code = main(["compare", "--config", str(path), "--output", str(output), "--json", *extra])
    return code, json.loads((output / "summary.json").read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_experiment_is_a_valid_config(path):
    config = load_config(path)
    assert config.experiment is not None and config.experiment.name == path.stem
    assert all(s.variants() for s in config.experiment.strategies)


# own-documents.yaml runs on a folder and questions written from it: tests/test_study.py runs it through
# `wb study --smoke`
SMOKED = [p for p in SHIPPED if p.stem != "own-documents"]


@pytest.mark.parametrize("path", SMOKED, ids=[p.stem for p in SMOKED])
def test_every_shipped_experiment_runs_its_smoke_version(path, tmp_path, tiny_generator):
    data = load_config(path).experiment.data
    needed = [Path(p) for p in (data.source, data.train, data.test) if p and p not in ("demo", "files")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (the shared data sets, absent on this machine)")
    output = tmp_path / "out"
    code = main(["compare", "--config", str(path), "--smoke", "--output", str(output), "--json",
                 "--set", f"training.output_root={tmp_path / 'runs'}", "--set", f"index.root={tmp_path / 'indexes'}",
                 "--set", f"models.generator={tiny_generator}"])
    summary = json.loads((output / "summary.json").read_text())
    assert code == 0, [r["error"] for r in summary["strategies"] if r["error"]]
    assert summary["items"]["test"] == load_config(path).experiment.smoke.eval_items


def test_classification_by_generator_and_by_classifiers_on_the_same_items(tmp_path, tiny_generator):
    path = experiment_file(tmp_path, "classification", [
        {"strategy": "zero-shot"},
        {"strategy": "few-shot", "vary": {"strategies.shot_selection": ["random", "similar"]}},
        {"strategy": "classifier", "vary": {"training.classifier.method": ["feature"]}},
        {"strategy": "classifier", "settings": {"training.classifier.backbone": "no-such-model"},
         "vary": {"training.classifier.method": ["head"]}},
    ], strategies={"shots": 1}, models={"generator": tiny_generator})
    code, summary = compare(path)
    assert code == 1  # one variant failed; the others finished
    rows = {r["strategy"]: r for r in summary["strategies"]}
    assert set(rows) == {"zero-shot", "few-shot[shot_selection=random]", "few-shot[shot_selection=similar]",
                         "classifier[method=feature]", "classifier[method=head]"}
    assert "no-such-model" in rows["classifier[method=head]"]["error"]
    output = tmp_path / "out-classification"
    items = {}
    for name in ("zero-shot", "few-shot_shot_selection_similar", "classifier_method_feature"):
        lines = [json.loads(line) for line in (output / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        items[name] = [line["id"] for line in lines]
        assert all(line["accuracy"] == float(line["prediction"] == line["reference"]) for line in lines)
    assert len(set(map(tuple, items.values()))) == 1 and len(items["zero-shot"]) == 4  # the same 4 items
    zero_shot = rows["zero-shot"]
    assert zero_shot["accuracy_low"] <= zero_shot["accuracy"] <= zero_shot["accuracy_high"]
    assert rows["classifier[method=feature]"]["trainable_parameters"] > 0
    assert len(summary["comparisons"]) == 6 and all(c["test"] == "McNemar" for c in summary["comparisons"])
    for name in ("summary.md", "summary.csv", "comparisons.csv", "quality.png", "cost.png", "resolved.yaml", "versions.json"):
        assert (output / name).stat().st_size > 0, name
    assert "no detectable difference" in (output / "summary.md").read_text()


def test_qa_experiment_caches_runs_by_settings_and_resumes_after_a_kill(tmp_path, tiny_generator):
    strategies = [{"strategy": "zero-shot"}, {"strategy": "rag", "vary": {"retrieval.k": [1]}},
                  {"strategy": "finetuned", "vary": {"training.generator.method": ["lora"]}}]
    models = {"generator": tiny_generator}
    path = experiment_file(tmp_path, "qa", strategies, models=models)
    output = tmp_path / "out-qa"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", "from workbench.cli import main; raise SystemExit(main())", "compare", "--config", str(path), "--output",
                                str(output), "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (output / "variants" / "zero-shot.json").is_file() and process.poll() is None:
        assert time.monotonic() < deadline, "the first variant never finished"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list((output / "variants").glob("*.json"))) < 3, "the experiment finished before it could be killed"
    first = (output / "predictions" / "zero-shot.jsonl").read_bytes()

    code, summary = compare(path)
    assert code == 0
    assert (output / "predictions" / "zero-shot.jsonl").read_bytes() == first  # kept, not redone
    assert [r["strategy"] for r in summary["strategies"]] == ["zero-shot", "rag[k=1]", "finetuned[method=lora]"]
    finetuned = summary["strategies"][2]
    assert finetuned["trainable_parameters"] > 0
    assert isinstance(finetuned["general_loss_change"], float)  # forgetting, against the base model
    assert 0 < finetuned["general_rougeL_change_p"] <= 1  # and the task metric on it, tested paired
    runs = sorted((tmp_path / "runs" / "experiment-cache").glob("generator-*"))
    assert len(runs) == 1 and (runs[0] / "COMPLETE").is_file()

    # the same settings reuse the trained run; a changed training setting trains anew
    assert compare(path)[0] == 0
    assert len(list((tmp_path / "runs" / "experiment-cache").glob("generator-*"))) == 1
    strategies[2]["settings"] = {"training.lora.r": 4}
    changed = experiment_file(tmp_path, "qa", strategies, models=models)
    assert compare(changed)[0] == 0
    assert len(list((tmp_path / "runs" / "experiment-cache").glob("generator-*"))) == 2


def test_two_experiments_sharing_the_cache_build_each_entry_once(tmp_path, tiny_generator):
    """Two `wb compare` processes at once (two jobs started from the browser) on the same settings: the second
    waits for the index and the run the first is building, then reuses them, instead of failing on their locks."""
    strategies = [{"strategy": "rag", "vary": {"retrieval.k": [1]}},
                  {"strategy": "finetuned", "vary": {"training.generator.method": ["lora"]}}]
    path = experiment_file(tmp_path, "qa", strategies, models={"generator": tiny_generator})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-m", "workbench.cli.main", "compare", "--config", str(path),
                                   "--output", str(tmp_path / f"out-{n}"), "--json"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for n in range(2)]
    for process in processes:
        process.communicate(timeout=600)
    summaries = [json.loads((tmp_path / f"out-{n}" / "summary.json").read_text()) for n in range(2)]
    assert [process.returncode for process in processes] == [0, 0], [r["error"] for s in summaries for r in s["strategies"]]
    cache = tmp_path / "runs" / "experiment-cache"
    assert len(list(cache.glob("generator-*"))) == 1 and len(list(cache.glob("experiment-*.json"))) == 1
    assert [[r["token_f1"] for r in s["strategies"]] for s in summaries][0] == [r["token_f1"] for r in summaries[1]["strategies"]]


def test_planted_duplicates_are_reported_and_scored_with_and_without(tmp_path, demo_corpus):
    rows = demo_corpus.labeled_documents()
    train, test = rows[0::2][:40], rows[1::2][:6]
    test[0] = train[3]  # the same paragraph on both sides
    for name, part in (("train", train), ("test", test)):
        (tmp_path / f"{name}.tsv").write_text("text\tlabel\n" + "".join(f"{r.text.replace(chr(9), ' ')}\t{r.label}\n"
                                                                         for r in part))
    path = experiment_file(tmp_path, "classification", [{"strategy": "classifier"}])
    config = yaml.safe_load(path.read_text())
    config["experiment"]["data"] = {"source": "files", "train": str(tmp_path / "train.tsv"),
                                    "test": str(tmp_path / "test.tsv"), "eval_items": None}
    path.write_text(yaml.safe_dump(config))
    code, summary = compare(path)
    assert code == 0
    assert summary["leaks"] == {"test-0": ["same text", summary["leaks"]["test-0"][1]]}
    assert summary["leaks"]["test-0"][1].startswith("shares a 13-word sequence")
    row = summary["strategies"][0]
    assert row["n"] == 6 and "accuracy_leak_free" in row  # scored on all 6 and on the 5 clean ones


def test_generation_experiment_scores_whole_replies_with_rouge_bleu_and_chrf(tmp_path, capsys, tiny_generator):
    things = ["the maps", "a cake", "two chairs", "the tickets", "some paint", "her laptop", "the keys", "a ladder",
              "fresh bread", "the report", "a lamp", "the forms", "his camera", "the plants", "a blanket", "the music"]
    records = tmp_path / "talks.jsonl"
    records.write_text("".join(json.dumps({
        "talk": f"#Person1#: Can you bring {thing} tomorrow?\n#Person2#: Yes, I will bring {thing} at nine.",
        "summary": f"#Person2# will bring {thing} at nine."}) + "\n" for thing in things))
    # a long instruction every prompt shares: the leakage guard checks each record's own text, not it
    data = {"source": str(records), "references": ["summary"], "test_fraction": 0.25,
            "prompt": "Read the short conversation below between two people carefully, then write a one sentence "
                      "summary of what was agreed.\n\n{talk}"}
    path = experiment_file(tmp_path, "generation", [{"strategy": "zero-shot"}, {"strategy": "few-shot"},
                                                    {"strategy": "finetuned"}], data=data, strategies={"shots": 1},
                           models={"generator": tiny_generator})
    code, summary = compare(path)
    assert code == 0, [r["error"] for r in summary["strategies"]]
    assert summary["primary_metric"] == "rouge1" and summary["items"]["test"] == 4
    assert summary["leaks"] == {}
    for row in summary["strategies"]:
        assert {"rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "corpus_bleu"} <= set(row)
    assert summary["strategies"][2]["trainable_parameters"] > 0
    for line in (path.parent / "out-generation" / "predictions" / "zero-shot.jsonl").read_text().splitlines():
        row = json.loads(line)  # each reply scored as a whole against its reference summary
        assert row["reference"][0].endswith("at nine.")
        assert row["rouge1"] == metrics.rouge(row["prediction"], row["reference"])["rouge1"]

    # a record without the prompt's field: an error naming the file, the record and the field
    records.write_text(records.read_text() + json.dumps({"summary": "no talk here"}) + "\n")
    assert main(["compare", "--config", str(path), "--output", str(tmp_path / "bad")]) == 2
    assert "talks.jsonl: line 17: experiment.data.prompt needs the field 'talk'" in capsys.readouterr().err
