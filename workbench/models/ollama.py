"""An Ollama Modelfile for an exported GGUF file: where the weights are, the prompt template in Ollama's
(Go) template language, the stop tokens, the system prompt and the sampling workbench answers with.

Ollama cannot run the tokenizer's Jinja chat template. The two formats workbench prompts in are written
as Go templates: ChatML (`<|im_start|>role ... <|im_end|>`, SmolLM2's template) and workbench's own
completion template for base models (`workbench.models.prompt_format`). Which one applies is decided by
rendering the model's chat template on a sample conversation and comparing the text; any other template
gets a comment instead (the GGUF carries the chat template, and Ollama picks a template from it when it
knows it).
"""

from __future__ import annotations

from typing import Any

# A conversation with every role, for comparing the model's template with the formats known here.
_SAMPLE = ({"role": "system", "content": "SYSTEM"}, {"role": "user", "content": "QUESTION 1"},
           {"role": "assistant", "content": "ANSWER 1"}, {"role": "user", "content": "QUESTION 2"})

_CHATML_TEMPLATE = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

_COMPLETION_TEMPLATE = """{BOS}{{- range .Messages }}{{ if eq .Role "system" }}{{ .Content }}

{{ else if eq .Role "user" }}{{ .Content }}
Answer:{{ else if eq .Role "assistant" }} {{ .Content }}

{{ end }}{{ end }}"""


def _chatml(messages: tuple[dict, ...], bos: str) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def _completion(messages: tuple[dict, ...], bos: str) -> str:
    parts = {"system": "{}\n\n", "user": "{}\nAnswer:", "assistant": " {}\n\n"}
    return bos + "".join(parts[m["role"]].format(m["content"]) for m in messages)


_FORMATS = {"ChatML": (_chatml, _CHATML_TEMPLATE, ("<|im_start|>", "<|im_end|>")),
            "workbench's completion format": (_completion, _COMPLETION_TEMPLATE, ())}


def prompt_template(tokenizer: Any) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(the format's name, its Go template, its stop strings) when the tokenizer's chat template renders
    a conversation as one of the formats known here; (None, None, ()) otherwise."""
    try:
        rendered = tokenizer.apply_chat_template(list(_SAMPLE), tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that cannot render the sample is simply not one we know
        return None, None, ()
    bos = tokenizer.bos_token or ""
    for name, (render, template, stops) in _FORMATS.items():
        if rendered == render(_SAMPLE, bos):
            return name, template.replace("{BOS}", bos), stops
    return None, None, ()


def _quoted(text: str) -> str:
    return '"""' + text.replace('"""', '" " "') + '"""'


def modelfile(gguf_name: str, tokenizer: Any, system_prompt: str | None, temperature: float | None = 0.0,
              top_p: float | None = None) -> str:
    """The Modelfile's text for the GGUF file `gguf_name` in the same folder. `temperature` 0 is greedy
    decoding, as workbench answers by default (`generation.do_sample: false`)."""
    name, template, stops = prompt_template(tokenizer)
    lines = ["# Ollama Modelfile written by `wb export`: ollama create NAME -f Modelfile, then ollama run NAME",
             f"FROM ./{gguf_name}", ""]
    if template is not None:
        lines += [f"# The prompt format: {name}, as the model's chat template renders it (the GGUF carries the "
                  "template too).", f"TEMPLATE {_quoted(template)}", ""]
    else:
        lines += ["# The model's chat template (tokenizer.chat_template in the GGUF) is none of the formats `wb export`",
                  "# writes as an Ollama template (ChatML, workbench's completion format). Ollama reads the GGUF's",
                  "# template when it recognizes it; otherwise write a TEMPLATE here.", ""]
    if system_prompt:
        lines += [f"SYSTEM {_quoted(system_prompt)}", ""]
    for stop in dict.fromkeys((*stops, *([tokenizer.eos_token] if tokenizer.eos_token else []))):
        lines.append(f'PARAMETER stop "{stop}"')
    if temperature is not None:
        lines.append(f"PARAMETER temperature {temperature:g}")
    if top_p is not None:
        lines.append(f"PARAMETER top_p {top_p:g}")
    return "\n".join(lines) + "\n"
