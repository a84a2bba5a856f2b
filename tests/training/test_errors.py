"""Bad input fails early with a message naming the problem; no half-written run looks complete."""

from __future__ import annotations

import resource
import signal

import pytest

from workbench.cli.main import main
from workbench.training.classifier import ClassifierDataError, ClassifierOptions, train_classifier
from workbench.training.generator import GeneratorOptions, train_generator
from workbench.training.runs import RunDir, RunError, write_atomic


def classifier_options(loop, method="head") -> ClassifierOptions:
    return ClassifierOptions(loop=loop(batch_size=4), method=method, max_length=32)


def test_single_class_is_refused(loop, tmp_path):
    with pytest.raises(ClassifierDataError, match="single class"):
        train_classifier(["a", "b", "c", "d", "e"], ["x"] * 5, classifier_options(loop), tmp_path / "run",
                         eval_texts=["f"], eval_labels=["x"], source="one.csv")
    assert not (tmp_path / "run").exists()


def test_fewer_examples_than_the_batch_or_the_classes(loop, tmp_path):
    with pytest.raises(ClassifierDataError, match="fewer than the batch size 4"):
        train_classifier(["a", "b", "c"], ["x", "y", "x"], classifier_options(loop), tmp_path / "a",
                         eval_texts=["d"], eval_labels=["y"])
    with pytest.raises(ClassifierDataError, match="3 examples for 3 classes, too few to hold out"):
        train_classifier(["a", "b", "c"], ["x", "y", "z"], classifier_options(loop, "feature"), tmp_path / "b")


def test_labels_unseen_in_training_are_named(loop, tmp_path):
    with pytest.raises(ClassifierDataError, match="never seen in training: 'z'"):
        train_classifier(["a", "b", "c", "d"], ["x", "y", "x", "y"], classifier_options(loop), tmp_path / "run",
                         eval_texts=["e"], eval_labels=["z"])


def test_generator_with_fewer_examples_than_the_batch(loop, qa, tmp_path):
    options = GeneratorOptions(loop=loop(batch_size=16), max_length=32)
    with pytest.raises(RunError, match="fewer than the batch size 16"):
        train_generator(qa[0][:5], options, tmp_path / "run", qa[1])


def test_run_folder_is_not_complete_until_the_summary(tmp_path):
    run = RunDir.create(tmp_path / "run", {"kind": "test"}, resume=False)
    assert not run.is_complete()
    with pytest.raises(RunError, match="not a finished run"):
        RunDir.open(run.path)
    run.finish({"ok": True})
    assert RunDir.open(run.path).summary() == {"ok": True}
    with pytest.raises(RunError, match="already holds a finished run"):
        RunDir.create(run.path, {"kind": "test"}, resume=False)


def test_an_interrupted_run_needs_resume(tmp_path):
    RunDir.create(tmp_path / "run", {"kind": "test"}, resume=False)
    with pytest.raises(RunError, match="add --resume"):
        RunDir.create(tmp_path / "run", {"kind": "test"}, resume=False)


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes writes past 1 KB fail like a full disk does (an OSError mid-write)."""
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, previous_limit[1]))
    try:
        with pytest.raises(RunError, match="summary.json: cannot write"):
            write_atomic(tmp_path / "summary.json", "x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["train", "classifier", "--demo", "--epochs", "two"], "invalid int value: 'two'"),
    (["train", "classifier", "--demo", "--learning-rate"], "expected one argument"),
])
def test_cli_rejects_bad_hyper_parameters(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_rejects_non_positive_values(capsys, tmp_path):
    assert main(["train", "classifier", "--demo", "--epochs", "0", "--output", str(tmp_path / "r")]) == 2
    assert "--epochs: training.classifier.epochs: Input should be greater than 0" in capsys.readouterr().err
