"""The llama.cpp runtime under the embedded engine: tokenizing in pieces, bounded, exact."""

import pytest

from bindings.ai.engines.gguf import bundled_gguf
from bindings.ai.engines.llama_runtime import (
    PromptTooLong,
    Runtime,
    RuntimeConfig,
    _overlap,
    _splitter,
)

CONTROL = 1 << 3
LSTRIP = 1 << 7


def test_the_text_is_cut_only_before_specials_nothing_can_absorb():
    specials = [("<|im_start|>", CONTROL), ("<|im_end|>", CONTROL), ("<mask>", CONTROL | LSTRIP),
                ("<x>", CONTROL), ("<x>y", CONTROL), ("<|zz|>", CONTROL), ("ab<|zz", CONTROL)]
    pattern = _splitter(specials)
    text = "<|im_start|><|im_end|><mask><x><x>y<|zz|>ab<|zz"
    # <mask> strips the whitespace before it; <x> sits inside <x>y; llama.cpp matches
    # longest first, so "ab<|zz" (as long as <|zz|>) could eat the start of <|zz|>.
    assert {m.group() for m in pattern.finditer(text)} == {"<|im_start|>", "<|im_end|>", "<x>y"}
    assert _overlap("ab<|zz", "<|zz|>") and not _overlap("<x>", "<|zz|>")
    assert _splitter([]) is None


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(RuntimeConfig(bundled_gguf(), n_ctx=64, parallel=1, n_batch=64))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def whole():
    """Tokens of the whole text in one call, as llama-cpp-python's Llama.tokenize gives them."""
    from bindings.ai.engines.llama_load import new_llama

    tok = new_llama(model_path=str(bundled_gguf()), vocab_only=True, verbose=False)
    yield lambda text: tok.tokenize(text.encode(), add_bos=False, special=True)
    tok.close()


@pytest.mark.llama
def test_tokens_in_pieces_equal_the_whole_texts_tokens(runtime, whole):
    turns = "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in [
        ("system", "Be brief."), ("user", "Hi  there 🎉"), ("assistant", " <|im_end|> x"),
        ("user", "<|im_start|><|im_start|>\n\n"),
    ]) + "<|im_start|>assistant\n"  # fmt: skip
    parts = runtime._parts(turns)
    assert "".join(parts) == turns and len(parts) == 12
    assert all(part.startswith(("<|im_start|>", "<|im_end|>")) for part in parts)
    for text in (turns, "plain text, no specials", "<|im_end|>", "ab<|im_end|>cd"):
        assert runtime.prompt_tokens(text, limit=10_000) == whole(text)


@pytest.mark.llama
def test_counting_stops_once_the_prompt_cannot_fit(runtime, whole):
    turn = "<|im_start|>user\nhi<|im_end|>\n"  # 6 tokens
    assert len(runtime.prompt_tokens(turn * 10, limit=60)) == 60
    with pytest.raises(PromptTooLong) as early:
        runtime.prompt_tokens(turn * 100_000, limit=60)  # 600,000 tokens: never all counted
    assert (early.value.tokens, early.value.exact) == (60, False)
    plain = "many words " * 40  # one piece: counted whole, so the count is exact
    with pytest.raises(PromptTooLong) as exact:
        runtime.prompt_tokens(plain, limit=60)
    assert (exact.value.tokens, exact.value.exact) == (len(whole(plain)), True)
    assert runtime.max_token_bytes >= len("<|im_start|>")


@pytest.mark.llama
def test_a_closed_runtime_refuses_to_tokenize():
    rt = Runtime(RuntimeConfig(bundled_gguf(), n_ctx=32, parallel=2, n_batch=32))
    assert rt.n_ctx == 32 and rt.parallel == 2
    rt.close()
    with pytest.raises(Exception, match="shut down"):
        rt.prompt_tokens("hello", limit=10)
