"""Each page's logic through Streamlit's AppTest, with the real models, a real index and real jobs."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import SMALLER_GENERATOR
from workbench.config import load_config
from workbench.requests import CompareRequest
from workbench.session import Workbench

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
VIEWS = Path(__file__).resolve().parents[2] / "ui" / "views"
TIMEOUT = 240  # seconds for one script run that generates or trains on 2 CPU cores


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Every root the server touches, under tmp_path, passed to the pages as `wb ui` does."""
    data = tmp_path / "data"
    data.mkdir()
    overrides = [f"index.root={tmp_path / 'indexes'}", f"training.output_root={tmp_path / 'runs'}",
                 f"ui.jobs_root={tmp_path / 'jobs'}", f"ui.uploads_root={tmp_path / 'uploads'}",
                 f"ui.data_roots=[{data}]"]
    monkeypatch.setenv("WORKBENCH_SET", "\n".join(overrides))
    monkeypatch.setenv("WORKBENCH_CONFIG", str(SMALLER_GENERATOR))
    return load_config(overrides=overrides), data


def page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=TIMEOUT)


def wait_until_completed(job) -> None:
    from workbench.jobs import read_job

    deadline = time.monotonic() + TIMEOUT
    while read_job(job.path).active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert read_job(job.path).state == "completed", read_job(job.path).error


def train_to_the_end(at: AppTest, config, kind: str, method: str) -> None:
    """Start the training job the Train page is set up for, wait for it, and show the page again."""
    from workbench.jobs import list_jobs

    at.button[0].click().run()
    assert not at.exception and not at.error
    job = list_jobs(config)[0]
    assert job.kind == kind and method in job.title
    wait_until_completed(job)
    at.run()


def normans_index(config) -> None:
    from workbench.corpus import load_demo_corpus

    documents = [d for d in load_demo_corpus().documents if d.metadata["title"] == "Normans"][:12]
    from workbench.indexing import build_index

    build_index("normans", documents, config=config)


def test_compare_answers_a_demo_question_side_by_side_with_sources_and_scores(roots):
    config, _ = roots
    normans_index(config)
    at = page("compare").run()
    at.sidebar.multiselect[0].set_value(["zero-shot", "rag", "finetuned"])
    at.sidebar.number_input[2].set_value(6)  # answer tokens: short answers keep the test quick
    at.run()
    assert "Gold answer: France" in [c.value for c in at.caption][1]
    at.button[0].click().run()
    assert not at.exception
    headers = [m.value for m in at.markdown if m.value.startswith("##### ")]
    assert headers == ["##### zero\\-shot", "##### rag", "##### finetuned"]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "needs" in errors[0] and "adapter" in errors[0]  # finetuned without a run: its own column
    sources = [e for e in at.expander if e.label.startswith("Sources")]
    assert len(sources) == 1 and "Normans/" in sources[0].markdown[0].value
    assert any(c.value.startswith("EM ") for c in at.caption)  # each answer scored against the gold answer
    prompts = [e for e in at.expander if e.label == "Prompt"]
    assert len(prompts) == 2 and "Normandy" in prompts[0].code[0].value  # the exact prompt, as text


def test_compare_says_what_each_run_learnt_and_warns_when_it_came_from_another_index(roots, tiny_run):
    config, _ = roots
    normans_index(config)
    run = Path(config.training.output_root) / "manuals-lora"
    shutil.copytree(tiny_run("lora").path, run)
    recorded = json.loads((run / "config.json").read_text())  # as `wb train generator --with-context retrieved
    (run / "config.json").write_text(json.dumps({**recorded, "index": "manuals"}))  # --index manuals` records it
    at = page("compare").run()
    assert not at.exception
    assert any(c.value.startswith("manuals\\-lora (lora) was trained on") for c in at.sidebar.caption)
    assert "learnt from the corpus of index 'manuals', not of 'normans'" in at.sidebar.warning[0].value


def test_indexes_page_refuses_outside_paths_previews_and_builds_in_a_job(roots):
    config, data = roots
    (data / "harbour.txt").write_text("The harbour of Port Ellen opens at dawn. " * 30)
    at = page("indexes").run()
    assert "No index yet" in at.info[0].value
    at.text_input[0].set_value("harbour")
    at.radio[0].set_value("Server folder").run()
    at.text_input[1].set_value("/etc").run()
    assert "outside the folders this server may read" in at.error[0].value

    at.text_input[1].set_value(str(data)).run()
    at.button[0].click().run()  # preview
    assert any(m.value.startswith("**harbour") for m in at.markdown), [m.value for m in at.markdown]
    assert "Port Ellen" in at.text[0].value
    at.button[1].click().run()  # build: a background job
    from workbench.jobs import list_jobs

    job = list_jobs(config)[0]
    wait_until_completed(job)
    at.run()
    assert at.dataframe[0].value["name"].tolist() == ["harbour"]
    at.text_input(key="query-harbour").set_value("Port Ellen").run()
    assert any("fused" in m.value and "keyword" in m.value for m in at.markdown)


def test_train_page_starts_a_job_and_shows_its_summary_when_done(roots):
    config, _ = roots
    at = page("train").run()
    at.radio[0].set_value("classifier").run()
    at.selectbox[0].set_value("head")
    at.number_input[4].set_value(2)  # max steps
    train_to_the_end(at, config, "train-classifier", "head")
    labels = [m.label for m in at.metric]
    assert "Trainable parameters" in labels and "Peak memory" in labels
    assert at.dataframe[0].value["method"].tolist() == ["head"]  # past runs


def test_train_page_tunes_on_preferences_with_dpo_from_a_server_file(roots, monkeypatch):
    """DPO reads preference records (no demo corpus to offer), trains with training.preference, and its run
    is listed with the generator runs the Compare page answers with."""
    config, data = roots
    monkeypatch.setenv("WORKBENCH_SET", os.environ["WORKBENCH_SET"] + "\ntraining.forgetting_items=2")  # a short probe
    records = [{"prompt": f"Say hello to {name}.", "chosen": f"Hello, {name}! Nice to meet you.",
                "rejected": f"Ugh, {name}. What do you want?"} for name in ("Ann", "Bo", "Cy", "Di", "Ed", "Flo")]
    (data / "prefs.json").write_text(json.dumps(records))
    at = page("train").run()
    at.radio[0].set_value("generator").run()
    at.selectbox[0].set_value("dpo").run()
    assert at.radio[1].options == ["Upload a file", "Server file"]
    at.radio[1].set_value("Server file").run()
    at.text_input[0].set_value(str(data / "prefs.json")).run()
    assert at.selectbox[1].label == "Start from" and at.number_input[0].label == "Beta"
    at.number_input[2].set_value(2)  # batch size
    at.number_input[5].set_value(1)  # max steps
    train_to_the_end(at, config, "train-generator", "dpo")
    assert "eval_reward_accuracy" in [m.label for m in at.metric]
    assert at.dataframe[0].value["method"].tolist() == ["dpo"]


def test_results_page_shows_scores_charts_and_disagreements(roots, tmp_path):
    config, _ = roots
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in
                          [("What is the capital of France?", "Paris"), ("Who wrote Hamlet?", "Shakespeare")]))
    from workbench.strategies import StrategyOptions

    Workbench(config.updated({"generation.max_new_tokens": 4, "strategies.shots": 1})).evaluate(
        qa, ["zero-shot", "few-shot"], StrategyOptions())
    at = page("results").run()
    assert not at.exception
    assert at.dataframe[0].value["strategy"].tolist() == ["zero-shot", "few-shot"]
    per_question = at.dataframe[1].value
    assert len(per_question) == 2 and {"zero-shot", "few-shot"} <= set(per_question.columns)
    at.toggle[0].set_value(True).run()
    assert len(at.dataframe[1].value) <= 2


def test_results_page_shows_an_experiment_in_words_and_starts_one_as_a_job(roots, tmp_path):
    config, _ = roots
    experiment = tmp_path / "topics.yaml"
    experiment.write_text(json.dumps({"training": {"classifier": {"max_length": 32, "epochs": 1, "batch_size": 8}},
                                      "experiment": {"name": "topics", "task": "classification",
                                                     "data": {"eval_items": 4, "train_items": 24},
                                                     "strategies": [{"strategy": "zero-shot"},
                                                                    {"strategy": "classifier"}]}}))
    Workbench(config.merged(experiment)).compare(CompareRequest())
    at = page("results").run()
    assert not at.exception
    assert at.dataframe[0].value["strategy"].tolist() == ["zero-shot", "classifier"]
    assert [m.label for m in at.metric][:2] == ["Task", "Evaluated items"]
    verdicts = [m.value.replace("\\", "") for m in at.markdown]  # shown escaped: strategy names are text
    assert any("no detectable difference between zero-shot and classifier at n = 4" in v for v in verdicts)
    assert len(at.dataframe[-1].value) <= 4  # per item, where the two disagree

    at.selectbox[0].set_value(next(o for o in at.selectbox[0].options if "demo-topics" in o)).run()
    at.button[0].click().run()  # Start experiment (smoke size): a background job
    assert not at.exception
    from workbench.jobs import cancel_job, list_jobs

    (job,) = [j for j in list_jobs(config) if j.kind == "compare"]
    assert job.title == "experiment demo-topics (smoke)" and job.request == {"smoke": True, "output": None}
    cancel_job(job)


def test_estimate_shows_the_breakdown_and_the_advice_for_a_7b_model_with_measured_quality(roots):
    at = page("estimate").run()
    at.selectbox[0].set_value("qwen2.5-7b")
    at.selectbox[1].set_value("qlora")
    at.selectbox[2].set_value("a10")
    at.selectbox[5].set_value(at.selectbox[5].options[-1])  # a shipped QA experiment
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["Trainable parameters", "Peak training memory", "Training time",
                                             "Training cost"]
    assert "fits in a10" in at.metric[1].delta
    assert "Measured quality" in at.info[0].value and "token_f1" in at.info[0].value


def test_questions_page_shows_a_file_with_its_report_and_saves_a_review_as_a_new_file(roots):
    from workbench.questions import FILTERS, GeneratedQuestion, read_questions, write_questions

    config, _ = roots
    chunk = "The default precision is 53 bits. The header file is mpfr.h."
    items = [GeneratedQuestion(id=f"q{i}", question=q, answers=[a], context=chunk, doc_id="manual.md", chunk_id=0,
                               answer_start=chunk.index(a), answer_end=chunk.index(a) + len(a), answer_kind="number",
                               model="smollm2-135m-instruct", filters={name: True for name in FILTERS[:5]},
                               retrieves_own_chunk=i == 0)
             for i, (q, a) in enumerate([("What is the default precision?", "53 bits"), ("Which header is it?", "mpfr.h")])]
    source = Workbench(config).questions_folder() / "manual-questions.jsonl"
    write_questions(source, items)
    at = page("questions").run()
    assert not at.exception
    assert "Build an index" in at.info[0].value  # no index yet: nothing to write questions from
    save = [b for b in at.button if b.label == "Save the review"][0]
    save.click().run()
    assert not at.exception and "Saved 2 questions (0 rejected)" in at.success[0].value
    reviewed = source.with_name("manual-questions.reviewed.jsonl")
    assert [q.review for q in read_questions(reviewed)] == ["accepted", "accepted"]
    assert read_questions(source)[0].review is None  # the generated file is never changed


def test_compare_offers_a_studys_questions_with_their_gold_answers(roots):
    from workbench.questions import FILTERS, GeneratedQuestion, write_questions

    config, _ = roots
    chunk = "The nightly backup starts at 02:30 and keeps 14 copies on the server vault-7."
    answer = "02:30"
    item = GeneratedQuestion(id="q0001", question="When does the nightly backup start?", answers=[answer], context=chunk,
                             doc_id="ops/backups.md", chunk_id=0, answer_start=chunk.index(answer),
                             answer_end=chunk.index(answer) + len(answer), answer_kind="number",
                             model="smollm2-135m-instruct", filters={name: True for name in FILTERS[:5]})
    write_questions(Path(config.training.output_root) / "studies" / "ops" / "questions-abc.jsonl", [item])
    at = page("compare").run()
    assert not at.exception
    at.radio[0].set_value("Pick a study question").run()
    assert not at.exception
    captions = [c.value.replace("\\", "") for c in at.caption]  # shown as typed: markdown-escaped
    assert any("Gold answer: 02:30" in c and "ops/backups.md" in c for c in captions), captions
