"""Dataset loaders: good input loads; malformed input names the file, the record and the problem."""

import json
import re

import pytest

from workbench.corpus import (
    DatasetError,
    InstructionExample,
    LabeledText,
    PreferenceExample,
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


def raises_at(path, where, problem):
    """Users fix a bad record from the message alone: it names the file, the line or record, then the problem."""
    return pytest.raises(DatasetError, match=re.escape(f"{path}: {where}: ") + problem)


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


def test_squad_loader_reads_a_small_file(tmp_path):
    """Without the shared data: one document per paragraph, answers deduplicated, load_qa sniffs SQuAD."""
    steam = "James Watt improved the steam engine in 1776."
    data = {"version": "1.1", "data": [
        {"title": "Steam", "paragraphs": [
            {"context": steam, "qas": [{"id": "q1", "question": "Who improved the steam engine?", "answers": [
                {"text": "James Watt", "answer_start": 0}, {"text": "James Watt", "answer_start": 0},
                {"text": "Watt", "answer_start": 6}]}]},
            {"context": "A paragraph without questions.", "qas": []}]},
        {"title": "Victoria", "paragraphs": [
            {"context": "Melbourne is the capital of Victoria.",
             "qas": [{"question": "What is the capital?", "answers": [{"text": "Melbourne"}]}]}]},
    ]}
    path = write(tmp_path / "mini-squad.json", json.dumps(data))
    corpus = load_squad(path)
    assert corpus.name == "mini-squad" and corpus.topics() == ["Steam", "Victoria"]
    assert [d.id for d in corpus.documents] == ["Steam/p0", "Steam/p1", "Victoria/p0"]
    assert corpus.documents[2].metadata == {"title": "Victoria", "paragraph": 0, "source": str(path)}
    watt, capital = corpus.qa_pairs
    assert (watt.id, watt.answers, watt.context, watt.doc_id, watt.topic) == (
        "q1", ("James Watt", "Watt"), steam, "Steam/p0", "Steam")
    assert capital.id == "Victoria/p0/q0"  # no id in the file: derived from the paragraph
    assert load_qa(path) == corpus.qa_pairs


def test_load_qa_reports_squad_errors_by_article_paragraph_question(tmp_path):
    """A SQuAD file given to load_qa is read as SQuAD, so its errors point into the article tree."""
    path = write(tmp_path / "squad.json", json.dumps({"data": [{"title": "T", "paragraphs": [
        {"context": "c", "qas": [{"question": "q?", "answers": [{"text": "a"}]}, {"answers": [{"text": "a"}]}]}]}]}))
    with raises_at(path, "article 0 ('T') paragraph 0 question 1", "missing field 'question'"):
        load_qa(path)


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


def test_instructions_json_list_and_jsonl(tmp_path):
    """Without the shared data: Alpaca records load from a JSON list or JSON Lines, `input` optional."""
    as_list = write(tmp_path / "alpaca.json", json.dumps([
        {"instruction": "Translate to French", "input": "cat", "output": "chat"},
        {"instruction": "Say hi", "output": "Hi!"},
    ]))
    assert load_instructions(as_list) == [InstructionExample("Translate to French", "cat", "chat"),
                                          InstructionExample("Say hi", "", "Hi!")]
    as_lines = write(tmp_path / "alpaca.jsonl", '{"instruction": "Count", "input": "", "output": "1 2 3"}\n\n'
                                                '{"instruction": "Say hi", "output": "Hi!"}\n')
    assert load_instructions(as_lines) == [InstructionExample("Count", "", "1 2 3"),
                                           InstructionExample("Say hi", "", "Hi!")]


@pytest.mark.parametrize(
    "name, content, where, problem",
    [
        ("alpaca.json", json.dumps([{"instruction": "Do it", "output": "Done"}, {"instruction": "x"}]),
         "record 2", "missing field 'output'"),
        ("alpaca.json", '[{"instruction": "Do it", "output": "Done"}, "oops"]', "record 2",
         "expected a JSON object, got str"),
        ("alpaca.json", '[{"instruction": "Do it",\n "output": }]', "line 2", r"invalid JSON \(Expecting value\)"),
        ("alpaca.jsonl", '{"instruction": "Do it", "output": "Done"}\n'
                         '{"instruction": "x", "input": 3, "output": "y"}\n',
         "line 2", "field 'input' must be a string, got int"),
        ("alpaca.jsonl", '{"instruction": "  ", "output": "y"}\n', "line 1", "field 'instruction' is empty"),
    ],
)
def test_instruction_errors(tmp_path, name, content, where, problem):
    path = write(tmp_path / name, content)
    with raises_at(path, where, problem):
        load_instructions(path)


def test_instructions_empty_list_is_an_error(tmp_path):
    """An empty list is a wrong file, not a valid data set of zero examples."""
    path = write(tmp_path / "alpaca.json", "[]")
    with pytest.raises(DatasetError, match=re.escape(f"{path}: no instruction records found")):
        load_instructions(path)


def test_preferences_accept_prompt_or_instruction(tmp_path, shared_data):
    examples = load_preferences(shared_data / "instruction-data-with-preference.json")
    assert len(examples) == 1100 - 6 and examples[0].chosen != examples[0].rejected  # 6 pairs prefer nothing: skipped
    path = write(tmp_path / "prefs.jsonl", '{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away"}\n'
                                           '{"instruction": "Add", "input": "1+1", "chosen": "2", "rejected": "3"}\n')
    loaded = load_preferences(path)
    assert loaded[1].prompt == "Add\n\n1+1"
    bad = write(tmp_path / "bad-prefs.jsonl", '{"prompt": "Hi", "chosen": "Hello!"}\n')
    with pytest.raises(DatasetError, match=r"bad-prefs\.jsonl: line 1: missing field 'rejected'"):
        load_preferences(bad)


def test_preferences_prompt_and_instruction_forms(tmp_path):
    """Without the shared data: `prompt`, or `instruction` joined with a non-blank `input`, in JSONL or a JSON list."""
    lines = write(tmp_path / "prefs.jsonl", "\n".join(json.dumps(r) for r in [
        {"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away"},
        {"instruction": "Add", "input": "1+1", "chosen": "2", "rejected": "3"},
        {"instruction": "Name a colour", "input": "  ", "chosen": "Blue", "rejected": "Seven"},
    ]))
    assert load_preferences(lines) == [PreferenceExample("Hi", "Hello!", "Go away"),
                                       PreferenceExample("Add\n\n1+1", "2", "3"),
                                       PreferenceExample("Name a colour", "Blue", "Seven")]
    as_list = write(tmp_path / "prefs.json",
                    json.dumps([{"instruction": "Be brief", "chosen": "OK", "rejected": "Well..."}]))
    assert load_preferences(as_list) == [PreferenceExample("Be brief", "OK", "Well...")]


@pytest.mark.parametrize(
    "name, content, where, problem",
    [
        ("prefs.jsonl", '{"prompt": "Hi", "chosen": "Hello!", "rejected": "Bye"}\n'
                        '{"prompt": "Hi", "chosen": "Hello!"}\n',
         "line 2", "missing field 'rejected'"),
        ("prefs.jsonl", '{"question": "Hi", "chosen": "Hello!", "rejected": "Bye"}\n', "line 1",
         r"missing field 'prompt' \(or 'instruction'\)"),
        ("prefs.jsonl", '{"prompt": "Hi", "chosen": 1, "rejected": "Bye"}\n', "line 1",
         "field 'chosen' must be a string, got int"),
        ("prefs.json", json.dumps([{"instruction": "Add", "input": ["1", "1"], "chosen": "2", "rejected": "3"}]),
         "record 1", "field 'input' must be a string, got list"),
        ("prefs.json", json.dumps([{"instruction": "Add", "chosen": "2", "rejected": "3"},
                                   {"instruction": "", "chosen": "2", "rejected": "3"}]),
         "record 2", "field 'instruction' is empty"),
    ],
)
def test_preference_errors(tmp_path, name, content, where, problem):
    path = write(tmp_path / name, content)
    with raises_at(path, where, problem):
        load_preferences(path)


def test_labeled_tables_csv_tsv_and_custom_columns(tmp_path, shared_data):
    sst2 = load_labeled_table(shared_data / "sst2-dev.tsv", text_column="sentence")
    assert len(sst2) == 872 and {r.label for r in sst2} == {"0", "1"}
    csv_path = write(tmp_path / "reviews.csv", 'review,stars\n"Great, really great",5\nAwful,1\n')
    rows = load_labeled_table(csv_path, text_column="review", label_column="stars")
    assert rows[0].text == "Great, really great" and rows[1].label == "1"


def test_labeled_tables_csv_and_tsv_with_custom_columns(tmp_path):
    """Without the shared data: CSV quoting works, TSV quotes are literal (SST-2), extra columns are ignored."""
    csv_path = write(tmp_path / "reviews.csv", 'id,review,stars\n1,"Great, really great",5\n'
                                               '2,"She said ""wow""",4\n3, Awful ,1\n')
    assert load_labeled_table(csv_path, text_column="review", label_column="stars") == [
        LabeledText("Great, really great", "5"), LabeledText('She said "wow"', "4"), LabeledText("Awful", "1")]
    tsv_path = write(tmp_path / "sst.tsv", 'idx\tsentence\tpolarity\n0\tit \'s a "charming journey\tpos\n'
                                           '1\tflat , dull\tneg\n')
    assert load_labeled_table(tsv_path, text_column="sentence", label_column="polarity") == [
        LabeledText('it \'s a "charming journey', "pos"), LabeledText("flat , dull", "neg")]
    semicolons = write(tmp_path / "rows.txt", "text;label\nbonjour, le monde;fr\n")
    assert load_labeled_table(semicolons, delimiter=";") == [LabeledText("bonjour, le monde", "fr")]


@pytest.mark.parametrize(
    "name, content, kwargs, message",
    [
        ("table.csv", "text,label\nhello,1\n", {"text_column": "sentence"},
         r"missing column 'sentence' \(columns: text, label\)"),
        ("table.csv", "text,label\nhello,1\n,0\n", {}, r"line 3: empty 'text'"),
        ("table.csv", "text,label\nhello\n", {}, r"line 2: expected 2 columns"),
        ("table.csv", "text,label\n", {}, "no rows found"),
        ("reviews.csv", 'review,stars\n"Great, really",\n', {"text_column": "review", "label_column": "stars"},
         r"line 2: empty 'stars'"),
        ("table.tsv", "text,label\nhello,1\n", {}, r"missing column 'text' \(columns: text,label\)"),
        ("table.tsv", "sentence\tpolarity\ngood\tpos\nfine\n", {"text_column": "sentence", "label_column": "polarity"},
         r"line 3: expected 2 columns"),
        ("table.tsv", "sentence\tpolarity\ngood\tpos\textra\n", {"text_column": "sentence", "label_column": "polarity"},
         r"line 2: expected 2 columns"),
        ("table.tsv", "sentence\tpolarity\ngood\t \n", {"text_column": "sentence", "label_column": "polarity"},
         r"line 2: empty 'polarity'"),
    ],
)
def test_labeled_table_errors(tmp_path, name, content, kwargs, message):
    path = write(tmp_path / name, content)
    with pytest.raises(DatasetError, match=rf"{re.escape(str(path))}: {message}"):
        load_labeled_table(path, **kwargs)


def test_invalid_utf8_and_missing_files(tmp_path):
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match=r"binary\.jsonl: not valid UTF-8"):
        load_qa_records(binary)
    with pytest.raises(DatasetError, match=r"nowhere\.json: file not found"):
        load_instructions(tmp_path / "nowhere.json")
