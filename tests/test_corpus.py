"""Dataset loaders: good input loads; malformed input names the file, the record and the problem."""

import json

import pytest

from workbench.corpus import (
    DatasetError,
    load_demo_corpus,
    load_instructions,
    load_labeled_table,
    load_preferences,
    load_qa,
    load_qa_records,
    load_squad,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_corpus_gives_documents_qa_pairs_and_topics(demo_corpus):
    assert len(demo_corpus.topics()) == 6
    assert len(demo_corpus.documents) == 225 and len(demo_corpus.qa_pairs) == 936
    doc_ids = {d.id for d in demo_corpus.documents}
    contexts = {d.id: d.text for d in demo_corpus.documents}
    for qa in demo_corpus.qa_pairs[:50]:
        assert qa.doc_id in doc_ids
        assert any(answer in contexts[qa.doc_id] for answer in qa.answers)  # gold spans lie in the paragraph
    labeled = demo_corpus.labeled_documents()
    assert {item.label for item in labeled} == set(demo_corpus.topics())


def test_squad_loader_reads_shared_articles(shared_data):
    corpus = load_squad(shared_data / "squad-v1.1-dev-articles-00-11.json")
    assert len(corpus.documents) == 620 and len(corpus.qa_pairs) == 3468


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}', r"article 0 \('T'\) paragraph 0: missing field 'context'"),
        ('{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"question": "q?", "answers": []}]}]}]}',
         r"paragraph 0 question 0: missing or empty 'answers'"),
        ('{"version": "1.1"}', "not SQuAD format"),
        ('{"data": [', "invalid JSON"),
    ],
)
def test_squad_loader_errors(tmp_path, content, message):
    path = write(tmp_path / "bad-squad.json", content)
    with pytest.raises(DatasetError, match=rf"bad-squad\.json: .*{message}"):
        load_squad(path)


def test_qa_records_jsonl_and_json(tmp_path):
    jsonl = write(tmp_path / "qa.jsonl", '{"question": "Who?", "answer": "Ann", "doc_id": 3}\n\n'
                                         '{"question": "When?", "answers": ["1990", "in 1990"], "context": "In 1990."}\n')
    pairs = load_qa_records(jsonl)
    assert [p.answers for p in pairs] == [("Ann",), ("1990", "in 1990")]
    assert pairs[0].doc_id == "3" and pairs[1].context == "In 1990."
    as_json = write(tmp_path / "qa.json", json.dumps([{"question": "Who?", "answers": "Ann"}]))
    assert load_qa(as_json)[0].answers == ("Ann",)


@pytest.mark.parametrize(
    "lines, message",
    [
        ('{"question": "Who?", "answer": "Ann"}\n{"question": "When?"\n', r"line 2: invalid JSON"),
        ('{"question": "Who?"}\n', r"line 1: missing field 'answer' \(or 'answers'\)"),
        ('{"question": "", "answer": "x"}\n', r"line 1: field 'question' is empty"),
        ('{"question": "Who?", "answers": []}\n', r"line 1: 'answers' must be a non-empty list"),
        ('["not", "an object"]\n', r"line 1: expected a JSON object"),
        ("", "file is empty"),
    ],
)
def test_qa_records_errors(tmp_path, lines, message):
    path = write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DatasetError, match=rf"bad\.jsonl: {message}"):
        load_qa_records(path)


def test_instructions_shared_and_errors(tmp_path, shared_data):
    examples = load_instructions(shared_data / "instruction-data.json")
    assert len(examples) == 1100 and examples[0].output
    bad = write(tmp_path / "alpaca.json", json.dumps([{"instruction": "Do it", "output": "Done"}, {"instruction": "x"}]))
    with pytest.raises(DatasetError, match=r"alpaca\.json: record 2: missing field 'output'"):
        load_instructions(bad)


def test_preferences_accept_prompt_or_instruction(tmp_path, shared_data):
    examples = load_preferences(shared_data / "instruction-data-with-preference.json")
    assert len(examples) == 1100 and examples[0].chosen != examples[0].rejected
    path = write(tmp_path / "prefs.jsonl", '{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away"}\n'
                                           '{"instruction": "Add", "input": "1+1", "chosen": "2", "rejected": "3"}\n')
    loaded = load_preferences(path)
    assert loaded[1].prompt == "Add\n\n1+1"
    bad = write(tmp_path / "bad-prefs.jsonl", '{"prompt": "Hi", "chosen": "Hello!"}\n')
    with pytest.raises(DatasetError, match=r"bad-prefs\.jsonl: line 1: missing field 'rejected'"):
        load_preferences(bad)


def test_labeled_tables_csv_tsv_and_custom_columns(tmp_path, shared_data):
    sst2 = load_labeled_table(shared_data / "sst2-dev.tsv", text_column="sentence")
    assert len(sst2) == 872 and {r.label for r in sst2} == {"0", "1"}
    csv_path = write(tmp_path / "reviews.csv", 'review,stars\n"Great, really great",5\nAwful,1\n')
    rows = load_labeled_table(csv_path, text_column="review", label_column="stars")
    assert rows[0].text == "Great, really great" and rows[1].label == "1"


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ("text,label\nhello,1\n", {"text_column": "sentence"}, r"missing column 'sentence' \(columns: text, label\)"),
        ("text,label\nhello,1\n,0\n", {}, r"line 3: empty 'text'"),
        ("text,label\nhello\n", {}, r"line 2: expected 2 columns"),
        ("text,label\n", {}, "no rows found"),
    ],
)
def test_labeled_table_errors(tmp_path, content, kwargs, message):
    path = write(tmp_path / "table.csv", content)
    with pytest.raises(DatasetError, match=rf"table\.csv: {message}"):
        load_labeled_table(path, **kwargs)


def test_invalid_utf8_and_missing_files(tmp_path):
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match=r"binary\.jsonl: not valid UTF-8"):
        load_qa_records(binary)
    with pytest.raises(DatasetError, match=r"nowhere\.json: file not found"):
        load_instructions(tmp_path / "nowhere.json")
