"""Short-answer clean-up: small models echo the question, prefix "Answer:", ramble on after the first
line and cite sources inline. Each rule is optional (prompts.yaml `postprocess`) and every step that
changed the text is reported, so the raw model output is never hidden."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.generation.prompts import PostprocessRules

_CITATION = re.compile(r"\s*\[(\d+)\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")


@dataclass(frozen=True)
class Cleaned:
    text: str
    steps: tuple[str, ...]  # names of the rules that changed the text, in order
    citations: tuple[int, ...]  # source numbers cited as [n], in order of first use


def clean_answer(raw: str, question: str, rules: PostprocessRules) -> Cleaned:
    text, steps = raw.strip(), []

    def apply(step: str, new: str) -> None:
        nonlocal text
        new = new.strip()
        if new != text:
            text = new
            steps.append(step)

    if rules.strip_echo:
        apply("strip_echo", _strip_echo(text, question))
    for prefix in rules.strip_prefixes:
        if text.lower().startswith(prefix.lower()):
            apply("strip_prefix", text[len(prefix):])
    if rules.first_line:
        apply("first_line", next((line for line in text.splitlines() if line.strip()), ""))
    citations: tuple[int, ...] = ()
    if rules.strip_citations:
        citations = tuple(dict.fromkeys(int(n) for n in _CITATION.findall(text)))
        apply("strip_citations", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _CITATION.sub("", text)))
    return Cleaned(text, tuple(steps), citations)


def _strip_echo(text: str, question: str) -> str:
    """Drop a leading `question` (optionally after "Question:"/"Q:"), compared case- and space-insensitively."""
    body = re.sub(r"^(question|q)\s*:\s*", "", text, flags=re.IGNORECASE)
    words = question.split()
    if not words:
        return text
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.match(pattern, body, flags=re.IGNORECASE)
    return body[match.end():] if match else text
