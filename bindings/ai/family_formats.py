"""Hand-written prompt formats of model families: the fallback when the served weights'
own template is not at hand (an HTTP backend without a chat template, a GGUF without
one, a route that names the format).

Each renders what its family's own Jinja chat template renders (as transformers'
`apply_chat_template` does, with `add_generation_prompt`), for every conversation that
template accepts; `tests/bindings/ai/test_family_formats.py` checks that against the
official templates (`tests/bindings/ai/chat_templates/`, each citing its source). As in
`chat_templates`, the leading BOS is left to the tokenizer, a trailing assistant message
is a prefix the model continues, contents are OpenAI parts flattened, and conversations
a template would refuse are rendered rather than refused, never dropping content:

- `mistral` (Mistral 7B Instruct v0.1/v0.2): `[INST] {user} [/INST]{reply}</s>`, no
  system role: a system message goes first into the next user turn, `"{system}\\n\\n"`.
- `gemma` (Gemma 1, 2 and 3 instruction-tuned): `<start_of_turn>user\\n...`; a system
  message goes into the next user turn, `"{system}\\n\\n"` (Gemma 3's own rule).
- `llama3` (Llama 3), `llama3.1` (3.1, 3.3) and `llama3.2` (3.2): header-delimited
  turns; 3.1 and 3.2 always open with a system header dated "26 Jul 2024" (3.1) or
  today (3.2, as its template's `strftime_now`); tool results are `ipython` turns.
- `qwen` (Qwen1.5 Chat): ChatML, with "You are a helpful assistant" as the system
  message when the conversation has none.
- `deepseek-r1` (DeepSeek-R1 distills): `<｜User｜>`/`<｜Assistant｜>` turns, the system
  text first, earlier replies' reasoning dropped before `</think>`, and the reply opened
  with `<think>\\n`. Several system messages are joined (the template keeps the last).
- `deepseek-coder` (DeepSeek Coder instruct): `### Instruction:`/`### Response:` turns
  after DeepSeek's default system text when there is no system message.

In `mistral` and `gemma` (strict user/assistant alternation), consecutive messages of
one role are joined by a blank line, other roles (`tool`...) are user turns labelled
`"{role}: "`, and a conversation opening with the assistant gets an empty user turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bindings.ai.chat_templates import ChatMLFormat, _content, _Format, _split_prefix

Messages = Sequence[Mapping[str, Any]]


def _turns(messages: Messages) -> tuple[list[tuple[str, str]], str | None]:
    """(role, content) pairs and the trailing assistant prefix (None if there is none)."""
    turns, prefix = _split_prefix([_content(m, i) for i, m in enumerate(messages)])
    if prefix is None and len(turns) < len(messages):
        prefix = ""  # an empty trailing assistant message: just the generation prompt
    return turns, prefix


def _alternate(turns: list[tuple[str, str]]) -> list[list[str]]:
    """[[kind, system prefix, text]]: user/assistant turns alternating from a user turn."""
    out: list[list[str]] = []

    def add(kind: str, text: str, prefix: str = "") -> None:
        if out and out[-1][0] == kind:
            out[-1][2] += "\n\n" + prefix + text
        else:
            out.append([kind, prefix, text])

    pending: list[str] = []  # system texts waiting for the next user turn
    for role, content in turns:
        if role == "system":
            pending.append(content)
        elif role == "assistant":
            if pending:  # no user turn to carry it: a user turn of its own
                add("user", "\n\n".join(pending))
                pending = []
            add("assistant", content)
        else:
            prefix = "".join(p + "\n\n" for p in pending)
            pending = []
            add("user", content if role == "user" else f"{role}: {content}", prefix)
    if pending:
        add("user", "\n\n".join(pending))
    if not out or out[0][0] == "assistant":
        out.insert(0, ["user", "", ""])
    return out


class MistralFormat(_Format):
    """See the module docstring (Mistral-7B-Instruct-v0.2's template)."""

    name = "mistral"
    stop = ("</s>",)

    def render(self, messages: Messages) -> str:
        turns, prefix = _turns(messages)
        parts = []
        for kind, system, text in _alternate(turns):
            if kind == "user":
                parts.append(f"[INST] {system}{text} [/INST]")
            else:
                parts.append(f"{text}</s>")
        return "".join(parts) + (prefix or "")


class GemmaFormat(_Format):
    """See the module docstring (Gemma 3's template; Gemma 1 and 2 refuse a system role)."""

    name = "gemma"
    stop = ("<end_of_turn>",)

    def render(self, messages: Messages) -> str:
        turns, prefix = _turns(messages)
        parts = []
        for kind, system, text in _alternate(turns):
            role = "model" if kind == "assistant" else "user"
            parts.append(f"<start_of_turn>{role}\n{system}{text.strip()}<end_of_turn>\n")
        parts.append("<start_of_turn>model\n" + (prefix.strip() if prefix else ""))
        return "".join(parts)


class Llama3Format(_Format):
    """Llama 3's header-delimited turns; `date` adds 3.1/3.2's dated system header."""

    stop = ("<|eot_id|>",)

    def __init__(self, name: str = "llama3", date: str | Callable[[], str] | None = None) -> None:
        self.name = name
        self.date = date
        if date is not None:
            self.stop = ("<|eot_id|>", "<|eom_id|>")

    @staticmethod
    def _turn(role: str, content: str) -> str:
        return f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"

    def render(self, messages: Messages) -> str:
        turns, prefix = _turns(messages)
        parts = []
        if self.date is not None:
            date = self.date() if callable(self.date) else self.date
            system = ""
            if turns and turns[0][0] == "system":
                system = turns.pop(0)[1].strip()
            header = f"Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n{system}"
            parts.append(self._turn("system", header))
        for role, content in turns:
            if self.date is not None and role in ("tool", "ipython"):
                # 3.1/3.2 write tool results as JSON (a string is "iterable" to Jinja)
                parts.append(self._turn("ipython", json.dumps(content, ensure_ascii=False)))
            else:
                parts.append(self._turn(role, content.strip()))
        parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
        return "".join(parts) + (prefix.strip() if prefix else "")


class DeepSeekR1Format(_Format):
    """See the module docstring (DeepSeek-R1-Distill-Qwen-32B's template)."""

    name = "deepseek-r1"
    stop = ("<｜end▁of▁sentence｜>",)

    def render(self, messages: Messages) -> str:
        turns, prefix = _turns(messages)
        parts = ["\n\n".join(c for r, c in turns if r == "system")]
        in_tools = False
        for role, content in turns:
            if role == "system":
                continue
            if role == "tool":
                opener = "\n" if in_tools else "<｜tool▁outputs▁begin｜>"
                parts.append(f"{opener}<｜tool▁output▁begin｜>{content}<｜tool▁output▁end｜>")
                in_tools = True
                continue
            if role == "assistant":
                if in_tools:
                    parts.append(f"<｜tool▁outputs▁end｜>{content}<｜end▁of▁sentence｜>")
                else:
                    reply = content.split("</think>")[-1]
                    parts.append(f"<｜Assistant｜>{reply}<｜end▁of▁sentence｜>")
            else:
                text = content if role == "user" else f"{role}: {content}"
                parts.append(f"<｜User｜>{text}")
            in_tools = False
        if in_tools:
            parts.append("<｜tool▁outputs▁end｜>")
        elif prefix is not None:
            parts.append("<｜Assistant｜>" + prefix)
        else:
            parts.append("<｜Assistant｜><think>\n")
        return "".join(parts)


class DeepSeekCoderFormat(_Format):
    """See the module docstring (deepseek-coder instruct's template)."""

    name = "deepseek-coder"
    stop = ("<|EOT|>",)
    SYSTEM = ("You are an AI programming assistant, utilizing the Deepseek Coder model, "
              "developed by Deepseek Company, and you only answer questions related to "
              "computer science. For politically sensitive questions, security and privacy "
              "issues, and other non-computer science questions, you will refuse to answer\n")

    def render(self, messages: Messages) -> str:
        turns, prefix = _turns(messages)
        parts = [] if any(r == "system" for r, _ in turns) else [self.SYSTEM]
        for role, content in turns:
            if role == "system":
                parts.append(content)
            elif role == "assistant":
                parts.append(f"### Response:\n{content}\n<|EOT|>\n")
            else:
                text = content if role == "user" else f"{role}: {content}"
                parts.append(f"### Instruction:\n{text}\n")
        parts.append("### Response:\n" + (prefix or ""))
        return "".join(parts)


def _today() -> str:
    return datetime.now().strftime("%d %b %Y")


#: format name -> a factory of it (`chat_templates.get_format` looks names up here).
FAMILY_FORMATS: dict[str, Callable[[], _Format]] = {
    "mistral": MistralFormat,
    "gemma": GemmaFormat,
    "llama3": Llama3Format,
    "llama3.1": lambda: Llama3Format("llama3.1", date="26 Jul 2024"),
    "llama3.2": lambda: Llama3Format("llama3.2", date=_today),
    "qwen": lambda: ChatMLFormat(default_system="You are a helpful assistant", name="qwen"),
    "deepseek-r1": DeepSeekR1Format,
    "deepseek-coder": DeepSeekCoderFormat,
}
