"""Bad input fails early with a message naming the problem; no half-written run looks complete."""

from __future__ import annotations

import resource
import signal

import pytest

from workbench.cli.main import main
from workbench.ondisk import FileWriteError, write_atomic
from workbench.runfolder import RunDir, RunError
from workbench.training.classifier import ClassifierDataError, ClassifierOptions, train_classifier
from workbench.training.generator import GeneratorOptions, train_generator


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
    options = GeneratorOptions(loop=loop(batch_size=16), model="smollm2-135m-instruct", max_length=32)
    with pytest.raises(RunError, match="fewer than the batch size 16"):
        train_generator(qa[0][:5], options, tmp_path / "run", qa[1])


RUN_CONFIG = {"kind": "classifier", "source": "t.csv", "train_examples": 4, "eval_examples": 1,
              "options": {"method": "head", "max_length": 8}}
SUMMARY = {"kind": "classifier", "method": "head", "trainable_params": 10, "total_params": 20, "trainable_percent": 50.0,
           "saved_bytes": 100, "wall_seconds": 1.0, "peak_rss_bytes": 1, "train_seconds": 0.5, "steps": 2,
           "final": {"accuracy": 1.0}}


def test_run_folder_is_not_complete_until_the_summary(tmp_path):
    with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=False) as run:
        assert not run.is_complete()
        with pytest.raises(RunError, match="not a finished run"):
            RunDir.open(run.path)
        run.finish(SUMMARY)
    assert RunDir.open(run.path).summary() == SUMMARY
    with pytest.raises(RunError, match="already holds a finished run"):
        with RunDir.create(run.path, RUN_CONFIG, resume=False):
            pass


def test_an_interrupted_run_needs_resume_and_a_folder_in_training_is_refused(tmp_path):
    with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=False):
        with pytest.raises(RunError, match="being trained into by another process"):
            with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=True):
                pass
    with pytest.raises(RunError, match="add --resume"):
        with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=False):
            pass
    with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=True) as run:
        assert run.config().options.method == "head"


def test_a_summary_that_breaks_its_schema_is_refused_before_it_is_written(tmp_path):
    with RunDir.create(tmp_path / "run", RUN_CONFIG, resume=False) as run:
        with pytest.raises(ValueError, match="trainable_params"):
            run.finish({**SUMMARY, "trainable_params": -1})
    assert not run.is_complete() and not (run.path / "summary.json").exists()


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes writes past 1 KB fail like a full disk does (an OSError mid-write)."""
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, previous_limit[1]))
    try:
        with pytest.raises(FileWriteError, match="summary.json: cannot write"):
            write_atomic(tmp_path / "summary.json", "x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_permissions_of_any_new_file_and_keep_changed_ones(tmp_path):
    (tmp_path / "opened.txt").write_text("as open() makes it")
    write_atomic(tmp_path / "questions.jsonl", "{}\n")
    mode = (tmp_path / "questions.jsonl").stat().st_mode & 0o777
    assert mode == (tmp_path / "opened.txt").stat().st_mode & 0o777  # not mkstemp's 0600
    (tmp_path / "questions.jsonl").chmod(0o600)
    write_atomic(tmp_path / "questions.jsonl", "{}\n{}\n")
    assert (tmp_path / "questions.jsonl").stat().st_mode & 0o777 == 0o600


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
