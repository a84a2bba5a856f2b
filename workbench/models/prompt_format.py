"""How a generator is prompted, by model kind.

An instruction-tuned model answers in its own chat template. A base model (Gemma 3 270M as shipped, or
any model whose tokenizer has no chat template) never learned chat turns: it is prompted with a
completion template that lays the same messages out as plain text and cues the answer with "Answer:".
The completion template is installed as the tokenizer's chat template, so that generation, finetuning
(the loss covers what follows the cue) and TRL's preference trainers all render a conversation the
same way, and a finetuned model answers in the format it was trained in.
"""

from __future__ import annotations

from typing import Any, Literal

from workbench.models.registry import prompt_format_of, unavailable

PromptFormat = Literal["chat", "completion"]

# system → its text and a blank line; each user turn → its text and the cue "Answer:"; an assistant
# turn → a space and its text, then a blank line (earlier turns: demonstrations) or the end-of-sequence
# token (the reply being learned, so that a finetuned base model learns to stop).
COMPLETION_TEMPLATE = (
    "{%- if bos_token %}{{ bos_token }}{% endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] + '\\n\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ message['content'] + '\\nAnswer:' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' + message['content'] }}{{ eos_token if loop.last else '\\n\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def load_tokenizer(source: str, name: str) -> Any:
    """The tokenizer of the model at `source` (registry name `name`), with a pad token and the prompt
    format of its kind installed as its chat template."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise unavailable(name, exc) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if prompt_format(name, tokenizer) == "completion":
        tokenizer.chat_template = COMPLETION_TEMPLATE
    return tokenizer


def prompt_format(name: str, tokenizer: Any) -> PromptFormat:
    """An embedded model's declared format; any other model is chatted with when its tokenizer has a
    chat template (a finetuned base model's saved tokenizer carries the completion template)."""
    return prompt_format_of(name) or ("chat" if getattr(tokenizer, "chat_template", None) else "completion")
