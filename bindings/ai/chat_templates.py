"""Chat templates: Cloudflare `messages` -> the prompt text the served weights expect.

Templates belong to the weights actually served, not to the catalogue name, so a
`PromptFormat` is picked per route (see `bindings.ai.engines.base`): `get_format("llama2")`
for real Llama-2-chat weights, `get_format("chatml")`, `get_format("none")` (plain
concatenation, for base models), or `jinja_format(source)` for a model's own Jinja chat
template (GGUF metadata `tokenizer.chat_template`). A bare `prompt` is one user turn
(`render_prompt`); `raw: true` bypasses templates altogether (the binding's job).

`llama2` is Meta's reference `chat_completion` (meta-llama/llama `llama/generation.py`,
also the HF `Llama-2-*-chat-hf` chat template): every finished exchange is
`<s>[INST] {user} [/INST] {answer} </s>`, the last user turn is `<s>[INST] {user} [/INST]`,
contents are `strip()`ped, and a leading system message goes into the first user turn as
`<<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user}`.

BOS: real backends add the tokenizer's BOS themselves when they tokenize text
(llama.cpp `add_bos`, vLLM and TGI `add_special_tokens=True`), so by default the *leading*
`<s>` is left to the tokenizer and not emitted; the `</s><s>` between turns must be text
(the tokenizer cannot know where turns end), and backends parse them as special tokens.
`get_format("llama2", leading_bos=True)` emits the leading `<s>` too, for backends that
tokenize without special tokens. `jinja_format` renders exactly what the template says
(as HF `apply_chat_template` does); pass `strip_bos=True` when the backend adds BOS.

Decisions where the reference format has no answer (never dropping content):

- Consecutive same-role messages are merged into one turn, joined by a blank line
  (Llama-2 requires user/assistant alternation). ChatML keeps them as separate turns.
- A system message that is not first goes, as its own `<<SYS>>` block, into the next user
  turn (Llama-2 has its system slot inside `[INST]`), so order is kept; with no user turn
  after it, it becomes a user turn of its own.
- Roles other than system/user/assistant (`tool`, `function`, ...) become user turns
  labelled `"{role}: {content}"` in Llama-2; ChatML writes any role natively.
- A conversation that starts with an assistant message gets an empty user turn first.
- A trailing assistant message is a prefix the model continues (HF's
  `continue_final_message`): its turn is left open, no EOS, no new generation prompt.
  An empty trailing assistant message is just the generation prompt (in Llama-2, whose
  contents are stripped, so is a blank one).
- An empty `messages` list renders an empty user turn (Llama-2) or only the generation
  prompt (ChatML): the schemas accept `[]`, so the model sees what the caller sent.
- OpenAI-style content parts (`[{"type": "text", "text": ...}]`) are joined by a newline
  (`flatten_content`, as vLLM does); other part types, non-string roles or non-mapping
  messages are a 5006 error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import jinja2
import jinja2.nodes
import jinja2.parser
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bindings.ai.errors import AiError

#: names `get_format` knows (aliases included); "gguf" means "the weights' own template".
FORMAT_NAMES: tuple[str, ...] = (
    "llama2", "llama-2", "llama-2-chat", "chatml", "none", "raw-concat",
)


class _Format:
    name: str = ""
    stop: tuple[str, ...] = ()

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        raise NotImplementedError

    def render_prompt(self, prompt: str) -> str:
        """A bare `prompt` input: a single user turn."""
        return self.render([{"role": "user", "content": prompt}])

    def __repr__(self) -> str:
        return f"<PromptFormat {self.name}>"


#: content-part types whose text a text-only prompt keeps (vLLM's `MM_PARSER_MAP` text kinds:
#: chat's "text" and "refusal", the Responses API's "input_text" and "output_text").
TEXT_PARTS = frozenset({"text", "refusal", "input_text", "output_text"})


def flatten_content(content: Any) -> str:
    """A message's `content` as prompt text: a string as is, None as "", and a list of
    OpenAI-style content parts as their texts joined by a newline, as vLLM does for
    text-only templates (`entrypoints/chat_utils.py`: `"\n".join(texts)`; a part whose
    text is null is skipped). Any other part or value is a `ValueError` naming it."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError(f"content is a {type(content).__name__}, not a string or a list of parts")
    texts = []
    for part in content:
        if not isinstance(part, Mapping):
            raise ValueError(f"content part is a {type(part).__name__}, not an object")
        kind = part.get("type")
        text = part.get("refusal" if kind == "refusal" else "text")
        if kind not in TEXT_PARTS:
            raise ValueError(f"content part type {kind!r} is not supported: only text")
        if text is None:
            continue
        if not isinstance(text, str):
            raise ValueError(f"a {kind!r} content part's text is a {type(text).__name__}")
        texts.append(text)
    return "\n".join(texts)


def _content(message: Any, index: int) -> tuple[str, str]:
    """(role, content) of one message, content parts flattened; a 5006 error if malformed."""
    if not isinstance(message, Mapping):
        raise _bad(f"message {index} is a {type(message).__name__}, not an object")
    role = message.get("role")
    if not isinstance(role, str):
        raise _bad(f"message {index} has no string 'role'")
    try:
        return role, flatten_content(message.get("content"))
    except ValueError as exc:
        raise _bad(f"message {index}: {exc}") from None


def _bad(detail: str) -> AiError:
    return AiError(5006, f"Error: {detail}")


def _split_prefix(turns: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str | None]:
    """Separate a trailing assistant message (a prefix to continue) from the rest."""
    if turns and turns[-1][0] == "assistant":
        content = turns[-1][1]
        return turns[:-1], content or None
    return turns, None


class Llama2Format(_Format):
    """Meta's Llama-2-chat format (see the module docstring for the edge cases)."""

    name = "llama2"
    B_INST, E_INST = "[INST]", "[/INST]"
    B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"

    def __init__(self, *, leading_bos: bool = False, bos: str = "<s>", eos: str = "</s>") -> None:
        self.leading_bos = leading_bos
        self.bos, self.eos = bos, eos
        self.stop = (eos,)

    def _turns(self, messages: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        # [kind, text, ends_with_sys_block]: kind is "user" or "assistant". Merged pieces
        # are collected and joined once: appending to the turn's text each time copied it
        # (50,000 one-line user messages took seconds, quadratically).
        turns: list[list[Any]] = []
        for index, message in enumerate(messages):
            role, content = _content(message, index)
            if role == "assistant":
                kind, text, is_sys = "assistant", content, False
            elif role == "system":
                kind, text, is_sys = "user", self.B_SYS + content + self.E_SYS, True
            elif role == "user":
                kind, text, is_sys = "user", content, False
            else:
                kind, text, is_sys = "user", f"{role}: {content}", False
            if turns and turns[-1][0] == kind:
                last = turns[-1]
                # A system block already ends with a blank line; anything else gets one.
                last[1] += ["" if last[2] else "\n\n", text]
                last[2] = is_sys
            else:
                turns.append([kind, [text], is_sys])
        for turn in turns:
            turn[1] = "".join(turn[1])
        if not turns or turns[0][0] == "assistant":
            turns.insert(0, ["user", "", False])
        return turns

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        turns = self._turns(messages)
        prefix: str | None = None
        if turns[-1][0] == "assistant":
            prefix = turns.pop()[1].strip() or None
        parts: list[str] = []
        for i in range(0, len(turns), 2):
            bos = self.bos if (i or self.leading_bos) else ""
            user = f"{bos}{self.B_INST} {turns[i][1].strip()} {self.E_INST}"
            if i + 1 < len(turns):
                parts.append(f"{user} {turns[i + 1][1].strip()} {self.eos}")
            else:
                parts.append(user if prefix is None else f"{user} {prefix}")
        return "".join(parts)


class ChatMLFormat(_Format):
    """ChatML: `<|im_start|>{role}\\n{content}<|im_end|>\\n` per message, then the reply's.
    `default_system` opens a conversation that does not start with a system message
    (Qwen1.5's template does so with "You are a helpful assistant")."""

    name = "chatml"
    stop = ("<|im_end|>",)

    def __init__(self, *, default_system: str | None = None, name: str = "chatml") -> None:
        self.default_system, self.name = default_system, name

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        turns, prefix = _split_prefix([_content(m, i) for i, m in enumerate(messages)])
        if self.default_system is not None and messages and _content(messages[0], 0)[0] != "system":
            turns = [("system", self.default_system), *turns]
        out = [f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns]
        out.append("<|im_start|>assistant\n" + (prefix or ""))
        return "".join(out)


class RawConcatFormat(_Format):
    """No template: the contents joined by blank lines (for base models)."""

    def __init__(self, name: str = "none") -> None:
        self.name = name

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        return "\n\n".join(_content(m, i)[1] for i, m in enumerate(messages))


# The HF transformers chat-template environment (`_compile_jinja_template`): sandboxed,
# trim/lstrip blocks, loop controls, a `tojson` that keeps non-ASCII, `raise_exception`,
# `strftime_now`, and `{% generation %}` blocks (HF's AssistantTracker marks assistant
# tokens with them for training masks; rendering, as llama-cpp-python does, passes through).
class _GenerationTag(Extension):
    tags: ClassVar[set[str]] = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: Any = None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationTag],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


_ENV = _environment()
_SENTINEL = "\x00edge-continue-final-message\x00"


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


class JinjaFormat(_Format):
    """A model's own Jinja chat template, rendered as HF `apply_chat_template` does."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "",
                 name: str = "gguf", strip_bos: bool = False) -> None:
        try:
            self.template = _compile(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(
                f"chat template {name!r} does not compile: line {exc.lineno}: {exc.message}"
            ) from exc
        self.name = name
        self.bos_token, self.eos_token = bos_token, eos_token
        self.strip_bos = strip_bos
        self.stop = (eos_token,) if eos_token else ()
        #: the template renders a `tools` variable itself (`bindings.ai.tools`, step 2).
        self.supports_tools = "tools" in source
        self._tools: list[dict[str, Any]] | None = None

    def with_tools(self, tools: list[dict[str, Any]] | None) -> JinjaFormat:
        """This template rendering `tools` (OpenAI function tools) as its `tools` variable."""
        copy = object.__new__(JinjaFormat)
        copy.__dict__.update(self.__dict__)
        copy._tools = tools or None
        return copy

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        extra = {"tools": self._tools} if self._tools else {}
        try:
            return self.template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **extra,
            )
        except jinja2.TemplateError as exc:
            raise _bad(f"the chat template of the served model ({self.name}) "
                       f"rejected the messages: {exc}") from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise _bad(f"the chat template of the served model ({self.name}) "
                       f"failed on these messages: {type(exc).__name__}: {exc}") from exc

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        plain = []
        for index, message in enumerate(messages):
            role, content = _content(message, index)
            plain.append({**message, "role": role, "content": content})
        turns, prefix = _split_prefix([(m["role"], m["content"]) for m in plain])
        if prefix is None or not prefix.strip():
            # Nothing to search for in a blank prefix: the reply's header, then the blank.
            text = self._render(plain[: len(turns)], add_generation_prompt=True) + (prefix or "")
        else:
            # HF's continue_final_message renders the turn closed and cuts after the final
            # content; a sentinel in its place finds the cut even when the content also
            # occurs in the template's own text (say "<" before "<|im_end|>").
            final = {**plain[-1], "content": _SENTINEL}
            text = self._render([*plain[:-1], final], add_generation_prompt=False)
            at = text.find(_SENTINEL)
            if at >= 0:
                text = text[:at] + prefix
            else:  # the template rewrote the content: HF's way, on the real content
                text = self._render(plain, add_generation_prompt=False)
                needle = prefix.strip()
                at = text.rfind(needle)
                if at >= 0:
                    text = text[: at + len(needle)]
        if self.strip_bos and self.bos_token and text.startswith(self.bos_token):
            text = text[len(self.bos_token):]
        return text


class ServedTemplate(_Format):
    """The served weights' own template, applied by the engine's backend (a chat endpoint):
    the messages go as they are. `fallback` renders the prompt for a backend that turns
    out to have no template (and for token counts); without one the prompt is empty."""

    name = "served"

    def __init__(self, fallback: _Format | None = None) -> None:
        self.fallback = fallback
        self.stop = fallback.stop if fallback is not None else ()

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        if self.fallback is not None:
            return self.fallback.render(messages)
        for index, message in enumerate(messages):
            _content(message, index)  # the same 5006 errors as every other format
        return ""


def get_format(name: str, *, leading_bos: bool = False) -> _Format:
    """The named built-in format (these, or a family's of `bindings.ai.family_formats`);
    `ValueError` listing the known names otherwise."""
    from bindings.ai.family_formats import FAMILY_FORMATS

    key = name.strip().lower()
    if key in ("llama2", "llama-2", "llama-2-chat"):
        return Llama2Format(leading_bos=leading_bos)
    if key == "chatml":
        return ChatMLFormat()
    if key in ("none", "raw-concat"):
        return RawConcatFormat(key)
    if key in FAMILY_FORMATS:
        return FAMILY_FORMATS[key]()
    known = ", ".join(["llama2", "chatml", "none", "raw-concat", *FAMILY_FORMATS])
    raise ValueError(f"unknown prompt format {name!r} (known: {known})")


def jinja_format(source: str, *, bos_token: str = "", eos_token: str = "", name: str = "gguf",
                 strip_bos: bool = False) -> JinjaFormat:
    """A model's own Jinja chat template; `ValueError` if it does not compile.

    `strip_bos=True` drops a leading `bos_token` from the output, for backends that add
    BOS themselves (GGUF `tokenizer.ggml.add_bos_token`); leave it False when the BOS
    text is also a turn marker (SmolLM2's BOS is `<|im_start|>`).
    """
    return JinjaFormat(source, bos_token=bos_token, eos_token=eos_token, name=name,
                       strip_bos=strip_bos)
