"""Where generator examples come from: QA pairs, Alpaca instructions, chat records → prompt–completion.

A QA example is rendered with the prompt templates the finetuned strategies answer with
(configs/prompts.yaml: `finetuned` for the question alone, `rag+finetuned` with numbered sources), so a
finetuned generator is trained on exactly the prompt it is later asked with (see docs/training.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.corpus import (
    DatasetError,
    InstructionExample,
    QAPair,
    load_demo_corpus,
    load_instructions,
    load_qa,
    read_records,
)
from workbench.generation.prompts import PromptTemplates, load_prompts

GENERAL_INSTRUCTIONS = Path(__file__).resolve().parent / "data" / "general_instructions.json"


@dataclass(frozen=True)
class PromptCompletion:
    """A conversation up to the assistant's turn, and the assistant's reply to learn; without messages,
    a text learned whole (continued pretraining on documents)."""

    messages: tuple[dict[str, str], ...]
    completion: str
    answers: tuple[str, ...] = ()  # acceptable answers for the task metric (QA); else (completion,)


def chat_messages(system_prompt: str, user: str) -> tuple[dict[str, str], ...]:
    return ({"role": "system", "content": system_prompt}, {"role": "user", "content": user})


CONTEXTS = ("none", "gold", "retrieved")


def qa_examples(pairs: Sequence[QAPair], system_prompt: str, with_context: str = "none", index: Any = None,
                k: int = 3, templates: PromptTemplates | None = None) -> list[PromptCompletion]:
    """Question → first answer, in the prompt of the strategy that will ask the finetuned model:

    - `none`: the question alone (`finetuned`);
    - `gold`: the pair's own paragraph as source [1] (`rag+finetuned`; the RAFT recipe's oracle context);
    - `retrieved`: the top-`k` chunks `index` returns for the question (`rag+finetuned`), i.e. what the
      model will read at inference, gold paragraph or not (RAFT's retrieved context)."""
    if with_context not in CONTEXTS:
        raise ValueError(f"with_context must be one of {', '.join(CONTEXTS)}, not {with_context!r}")
    templates = templates or load_prompts()
    pairs = list(pairs)
    if with_context == "gold":
        for pair in pairs:
            if not pair.context:
                raise DatasetError(f"QA pair {pair.id}", "--with-context gold needs a context for every QA pair; this one has none")
        sources = [[(pair.doc_id or "", pair.context)] for pair in pairs]
    elif with_context == "retrieved":
        if index is None:
            raise ValueError("--with-context retrieved needs an index (--index NAME)")
        sources = [[(hit.doc_id, hit.text) for hit in hits] for hits in index.search_many([p.question for p in pairs], k)]
    else:
        sources = [[] for _ in pairs]
    strategy = "finetuned" if with_context == "none" else "rag+finetuned"
    return [PromptCompletion(tuple(templates.messages(strategy, pair.question, system_prompt, sources=found)),
                             pair.answers[0], tuple(pair.answers))
            for pair, found in zip(pairs, sources)]


def document_examples(texts: Sequence[str]) -> list[PromptCompletion]:
    """Continued pretraining: each text (a chunk of the user's documents) is learned whole, next token
    after next token, with no prompt in front of it."""
    return [PromptCompletion((), text) for text in texts if text.strip()]


def instruction_examples(records: Sequence[InstructionExample], system_prompt: str) -> list[PromptCompletion]:
    """Alpaca records: the instruction, then its input after a blank line, → the output."""
    return [PromptCompletion(chat_messages(system_prompt, r.prompt), r.output, (r.output,)) for r in records]


def chat_examples(path: str | Path, system_prompt: str) -> list[PromptCompletion]:
    """Records with `messages` (role/content); the last message, from the assistant, is learned.

    A conversation without a system message gets `system_prompt`."""
    path = Path(path)
    examples = []
    for where, record in read_records(path):
        messages = record.get("messages")
        if not isinstance(messages, list) or len(messages) < 2:
            raise DatasetError(path, "'messages' must be a list of at least two {role, content} messages", where)
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str) \
                    or message.get("role") not in ("system", "user", "assistant"):
                raise DatasetError(path, "each message needs a role (system, user, assistant) and a string content", where)
        if messages[-1]["role"] != "assistant":
            raise DatasetError(path, "the last message must be the assistant's reply to learn", where)
        history = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
        if history[0]["role"] != "system":
            history.insert(0, {"role": "system", "content": system_prompt})
        reply = messages[-1]["content"]
        examples.append(PromptCompletion(tuple(history), reply, (reply,)))
    if not examples:
        raise DatasetError(path, "no chat records found")
    return examples


def load_examples(path: Path | None, format: str, system_prompt: str, with_context: str = "none",
                  index: Any = None, k: int = 3) -> tuple[list[PromptCompletion], str]:
    """Examples from `path` in `format` (qa, instruction, chat), or the demo corpus's QA pairs when
    `path` is None; `with_context`, `index`, `k`: see `qa_examples`."""
    if path is None:
        return qa_examples(load_demo_corpus().qa_pairs, system_prompt, with_context, index, k), "demo corpus QA pairs"
    if format == "qa":
        return qa_examples(load_qa(path), system_prompt, with_context, index, k), str(path)
    if format == "instruction":
        return instruction_examples(load_instructions(path), system_prompt), str(path)
    if format == "chat":
        return chat_examples(path, system_prompt), str(path)
    raise DatasetError(path, f"unknown format '{format}' (choose qa, instruction or chat)")


def bundled_general_examples(system_prompt: str) -> list[PromptCompletion]:
    """A small general instruction set shipped with workbench, to measure forgetting on."""
    return instruction_examples(load_instructions(GENERAL_INSTRUCTIONS), system_prompt)
