"""Prompt templates and short-answer post-processing (no model needed)."""

from __future__ import annotations

import pytest

from workbench.generation import PostprocessRules, PromptError, clean_answer, load_prompts

RULES = PostprocessRules(strip_echo=True, strip_prefixes=("Answer:",), first_line=True, strip_citations=True)


def test_postprocess_strips_echo_prefix_extra_lines_and_citations():
    raw = "  In what country is Normandy located? Answer: France [2].\nNormandy is a region [1]."
    cleaned = clean_answer(raw, "In what country is  Normandy located?", RULES)
    assert cleaned.text == "France."
    assert cleaned.steps == ("strip_echo", "strip_prefix", "first_line", "strip_citations")
    assert cleaned.citations == (2,)  # only the kept line's citation


def test_postprocess_records_nothing_when_nothing_changes():
    cleaned = clean_answer("France", "Where is Normandy?", RULES)
    assert (cleaned.text, cleaned.steps, cleaned.citations) == ("France", (), ())


def test_postprocess_rules_can_be_switched_off():
    raw = "Where is Normandy? In France.\nMore."
    cleaned = clean_answer(raw, "Where is Normandy?", PostprocessRules(strip_echo=False, first_line=False,
                                                                        strip_citations=False))
    assert cleaned.text == raw.strip() and cleaned.steps == ()


def test_templates_render_sources_with_numbers_and_demonstrations_as_turns():
    templates = load_prompts()
    chat = templates.messages("rag", "Q?", "SYS", sources=[("d1", "alpha text"), ("d2", "beta text")])
    assert chat[0] == {"role": "system", "content": "SYS"}
    assert "[1] alpha text" in chat[-1]["content"] and "[2] beta text" in chat[-1]["content"]
    assert chat[-1]["content"].index("[1]") < chat[-1]["content"].index("[2]") < chat[-1]["content"].index("Q?")
    chat = templates.messages("few-shot", "Q?", "SYS", demonstrations=[("dq", "da")])
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
    assert chat[2]["content"] == "da" and chat[3]["content"] == "Q?"


def test_override_file_is_merged_over_the_defaults(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text('system: "Be brief."\nuser:\n  zero-shot: "Q: {question}\\nA:"\n')
    templates = load_prompts(path)
    assert templates.system == "Be brief."
    assert templates.user["zero-shot"] == "Q: {question}\nA:"
    assert "{sources}" in templates.user["rag"]  # untouched defaults stay


@pytest.mark.parametrize("content, problem", [
    ('user:\n  rag: "{question}"\n', "must contain {sources}"),
    ('user:\n  zero-shot: "{query}"\n', "unknown placeholder"),
    ('colour: red\n', "unknown key 'colour'"),
    ('- a list\n', "must be a mapping"),
])
def test_bad_template_files_name_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(PromptError, match=problem) as info:
        load_prompts(path)
    assert str(path) in str(info.value)
