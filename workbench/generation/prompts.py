"""Prompt templates (`configs/prompts.yaml`, a user file merged over it) and the chat messages built
from them: the system prompt, demonstrations as earlier user/assistant turns, numbered sources."""

from __future__ import annotations

import copy
import os
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from workbench.config import shipped_config
from workbench.errors import WorkbenchError

DEFAULT_PROMPTS_PATH = shipped_config("prompts.yaml")

# The placeholders each strategy's user template may use; `question` is always required.
_USER_FIELDS = {
    "zero-shot": {"question"},
    "few-shot": {"question"},
    "rag": {"question", "sources"},
    "finetuned": {"question"},
    "rag+finetuned": {"question", "sources"},
}
_REQUIRED_FIELDS = {name: ({"question", "sources"} if "sources" in fields else {"question"})
                    for name, fields in _USER_FIELDS.items()}


class PromptError(WorkbenchError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostprocessRules(_Strict):
    strip_echo: bool = True
    strip_prefixes: tuple[str, ...] = ()
    first_line: bool = True
    strip_citations: bool = True


class QuestionDemonstration(_Strict):
    title: str
    text: str
    answer: str
    question: str


class ParaphraseDemonstration(_Strict):
    question: str
    paraphrase: str


class QuestionTemplates(_Strict):
    """Writing a question for an answer picked from a text, and rewording a question (`workbench.questions`)."""

    system: str
    request: str
    completion: str
    demonstrations: tuple[QuestionDemonstration, ...]
    paraphrase_system: str
    paraphrase_request: str
    paraphrase_completion: str
    paraphrase_demonstrations: tuple[ParaphraseDemonstration, ...]

    @model_validator(mode="after")
    def _check_placeholders(self) -> QuestionTemplates:
        for name in ("request", "completion"):
            _check_fields(f"questions.{name}", getattr(self, name), {"title", "text", "answer"}, {"text", "answer"})
        for name in ("paraphrase_request", "paraphrase_completion"):
            _check_fields(f"questions.{name}", getattr(self, name), {"question"}, {"question"})
        return self


class PromptTemplates(_Strict):
    system: str | None = None
    user: dict[str, str]
    demonstration_answer: str
    source: str
    source_separator: str
    postprocess: PostprocessRules
    questions: QuestionTemplates

    @model_validator(mode="after")
    def _check_placeholders(self) -> PromptTemplates:
        unknown = set(self.user) - set(_USER_FIELDS)
        if unknown:
            raise ValueError(f"user: unknown strategies {sorted(unknown)} (known: {sorted(_USER_FIELDS)})")
        missing = set(_USER_FIELDS) - set(self.user)
        if missing:
            raise ValueError(f"user: missing templates for {sorted(missing)}")
        for name, template in self.user.items():
            _check_fields(f"user.{name}", template, _USER_FIELDS[name], _REQUIRED_FIELDS[name])
        _check_fields("demonstration_answer", self.demonstration_answer, {"answer"}, {"answer"})
        _check_fields("source", self.source, {"number", "text", "doc_id"}, {"text"})
        return self

    def messages(self, strategy: str, question: str, system_prompt: str,
                 demonstrations: Sequence[tuple[str, str]] = (), sources: Sequence[tuple[str, str]] = ()) -> list[dict]:
        """The chat for `strategy`: system, (demo question, demo answer) turns, then the question.

        `sources` are (doc_id, text) pairs, numbered [1], [2]... in order."""
        user = self.user[strategy]
        chat = [{"role": "system", "content": self.system if self.system is not None else system_prompt}]
        for demo_question, demo_answer in demonstrations:
            chat.append({"role": "user", "content": user.format(question=demo_question, sources="")})
            chat.append({"role": "assistant", "content": self.demonstration_answer.format(answer=demo_answer)})
        rendered = self.source_separator.join(
            self.source.format(number=number, text=text, doc_id=doc_id)
            for number, (doc_id, text) in enumerate(sources, start=1)
        )
        chat.append({"role": "user", "content": user.format(question=question, sources=rendered)})
        return chat


def _check_fields(where: str, template: str, allowed: set[str], required: set[str]) -> None:
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ValueError(f"{where}: not a valid template ({exc}); write literal braces as {{{{ }}}}") from None
    if used - allowed:
        raise ValueError(f"{where}: unknown placeholder(s) {sorted(used - allowed)} (allowed: {sorted(allowed)})")
    if required - used:
        raise ValueError(f"{where}: must contain {', '.join('{' + f + '}' for f in sorted(required - used))}")


def load_prompts(path: str | os.PathLike | None = None) -> PromptTemplates:
    """The default templates, with the file at `path` (if any) merged over them."""
    data = _read(DEFAULT_PROMPTS_PATH)
    source = DEFAULT_PROMPTS_PATH
    if path is not None:
        source = Path(path)
        data = _merge(data, _read(source), source)
    try:
        return PromptTemplates.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'templates'}: {e['msg']}" for e in exc.errors())
        raise PromptError(f"{source}: invalid prompt templates: {problems}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PromptError(f"{path}: cannot read prompt templates ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise PromptError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PromptError(f"{path}: prompt templates must be a mapping, got {type(data).__name__}")
    return data


def _merge(base: dict, update: dict, source: Path) -> dict:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if key not in merged:
            raise PromptError(f"{source}: unknown key '{key}' (known: {', '.join(sorted(merged))})")
        if isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
