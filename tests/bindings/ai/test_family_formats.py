"""Each hand-written family format renders what its models' own chat template renders.

The reference is transformers' own renderer (`render_jinja_template`, what
`apply_chat_template` calls: jinja2 sandbox, `raise_exception`, `strftime_now`,
`bos_token`/`eos_token`, `add_generation_prompt`, `continue_final_message`) run on the
official templates in `template_fixtures/` (each file names its source). The formats
leave the leading BOS to the tokenizer, so it is taken off the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.chat_templates import get_format
from bindings.ai.family_formats import FAMILY_FORMATS, Llama3Format

transformers_templates = pytest.importorskip("transformers.utils.chat_template_utils")

FIXTURES = Path(__file__).parent / "template_fixtures"

USER = [{"role": "user", "content": "Why is the sky blue?"}]
TURNS = [
    {"role": "user", "content": "  Hello  "},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you?\nAnswer in one line."},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Café, 世界 and \"quotes\" {{ not jinja }}"},
]
SYSTEM = [{"role": "system", "content": "You are terse. "}, *TURNS]
CONTINUE = [*USER, {"role": "assistant", "content": "The sky is blue because"}]
TOOL = [
    {"role": "system", "content": "Use the tools."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "Let me look."},
    {"role": "tool", "content": "18C, cloudy"},
    {"role": "user", "content": "Thanks"},
]
REASONING = [
    {"role": "system", "content": "Think first."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
    {"role": "user", "content": "3+3?"},
]
TOOL_OUTPUTS = [
    {"role": "user", "content": "Look it up."},
    {"role": "tool", "content": "result one"},
    {"role": "tool", "content": "result two"},
    {"role": "assistant", "content": "Both agree."},
    {"role": "user", "content": "Good."},
]
PLAIN = [USER, TURNS, CONTINUE]

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}

#: (format, fixture, template variables, conversations the template accepts)
CASES = [
    ("llama3", "llama-3-instruct", LLAMA3, [*PLAIN, SYSTEM]),
    ("llama3.1", "llama-3.3-instruct", LLAMA3, [*PLAIN, SYSTEM, TOOL]),
    ("mistral", "mistral-7b-instruct-v0.2", {"bos_token": "<s>", "eos_token": "</s>"}, PLAIN),
    ("gemma", "gemma-7b-it", {"bos_token": "<bos>", "eos_token": "<eos>"}, PLAIN),
    ("gemma", "gemma-2-2b-it", {"bos_token": "<bos>", "eos_token": "<eos>"}, PLAIN),
    ("gemma", "gemma-3-it", {"bos_token": "<bos>", "eos_token": "<eos>"}, [*PLAIN, SYSTEM]),
    ("chatml", "openhermes-2.5-mistral-7b", {}, [*PLAIN, SYSTEM, TOOL]),
    ("qwen", "qwen1.5-chat", {"eos_token": "<|im_end|>"}, [*PLAIN, SYSTEM, TOOL]),
    ("deepseek-r1", "deepseek-r1-distill-qwen-32b", DEEPSEEK,
     [*PLAIN, SYSTEM, REASONING, TOOL_OUTPUTS]),
    ("deepseek-coder", "deepseek-coder-instruct", DEEPSEEK, [*PLAIN, SYSTEM]),
]


def reference(fixture: str, variables: dict, messages: list[dict], **extra) -> str:
    """The official template rendered by transformers, less the leading BOS."""
    source = (FIXTURES / f"{fixture}.jinja").read_text(encoding="utf-8")
    continues = messages[-1]["role"] == "assistant"
    rendered, _ = transformers_templates.render_jinja_template(
        conversations=[messages], chat_template=source,
        add_generation_prompt=not continues, continue_final_message=continues,
        **variables, **extra,
    )
    text = rendered[0]
    bos = variables.get("bos_token", "")
    return text[len(bos):] if bos and text.startswith(bos) else text


def case_id(case) -> str:
    return f"{case[0]}-vs-{case[1]}"


@pytest.mark.parametrize(("name", "fixture", "variables", "conversations"), CASES,
                         ids=list(map(case_id, CASES)))
def test_the_format_renders_what_the_models_template_renders(name, fixture, variables,
                                                             conversations):
    fmt = get_format(name)
    for messages in conversations:
        assert fmt.render(messages) == reference(fixture, variables, messages), messages


def test_llama_3_2_dates_its_system_header_today_as_its_template_does():
    dated = Llama3Format("llama3.2", date="05 Dec 2026")
    for messages in [*PLAIN, SYSTEM, TOOL]:
        expected = reference("llama-3.2-instruct", LLAMA3, messages, date_string="05 Dec 2026")
        assert dated.render(messages) == expected
    # without a date the template calls strftime_now; so does the format
    today = get_format("llama3.2").render(USER)
    assert today == reference("llama-3.2-instruct", LLAMA3, USER) or "Today Date: " in today


def test_every_family_format_is_checked_against_a_template():
    assert {name for name, *_ in CASES} | {"llama3.2"} >= set(FAMILY_FORMATS)


def test_conversations_the_templates_refuse_are_rendered_without_losing_content():
    system_first = [{"role": "system", "content": "Be brief."}, *USER]
    mistral = get_format("mistral").render(system_first)
    assert mistral == "[INST] Be brief.\n\nWhy is the sky blue? [/INST]"
    gemma = get_format("gemma").render([{"role": "assistant", "content": "Hello"},
                                        {"role": "user", "content": "a"},
                                        {"role": "user", "content": "b"},
                                        {"role": "tool", "content": "c"}])
    assert gemma == ("<start_of_turn>user\n<end_of_turn>\n<start_of_turn>model\nHello"
                     "<end_of_turn>\n<start_of_turn>user\na\n\nb\n\ntool: c<end_of_turn>\n"
                     "<start_of_turn>model\n")
    two_systems = [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, *USER]
    assert get_format("deepseek-r1").render(two_systems).startswith("A\n\nB<｜User｜>")


def test_each_shipped_family_names_a_tested_format_or_only_the_served_template():
    tested = {name for name, *_ in CASES} | {"llama3.2", "llama2"}
    for entry in load_catalogue():
        if entry.task_name != "Text Generation":
            continue
        serving = entry.serving
        if serving.family is None:
            continue
        assert serving.prompt_format in tested | {"none", None}, entry.name
        if serving.prompt_format is None:
            assert serving.chat_template is not None, entry.name  # the served template only
