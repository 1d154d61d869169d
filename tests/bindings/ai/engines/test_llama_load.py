"""The CPU rule for loading llama.cpp models (`bindings.ai.engines.llama_load`)."""

from __future__ import annotations

import pytest

from bindings.ai.engines import llama_load


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return str(path)


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    assert llama_load.cpu_has_amx.__wrapped__(_cpuinfo(tmp_path, "amx_bf16 amx_tile amx_int8"))
    assert not llama_load.cpu_has_amx.__wrapped__(_cpuinfo(tmp_path, "avx512f"))
    assert not llama_load.cpu_has_amx.__wrapped__(str(tmp_path / "missing"))


@pytest.mark.parametrize(("forced", "amx", "expected"), [
    (None, True, False), (None, False, True), ("1", True, True), ("0", False, False),
])  # fmt: skip
def test_extra_buffers_are_off_on_amx_unless_forced(monkeypatch, forced, amx, expected):
    monkeypatch.setattr(llama_load, "cpu_has_amx", lambda: amx)
    if forced is None:
        monkeypatch.delenv("EDGE_LLAMA_EXTRA_BUFTS", raising=False)
    else:
        monkeypatch.setenv("EDGE_LLAMA_EXTRA_BUFTS", forced)
    assert llama_load.extra_buffers_enabled() is expected


@pytest.mark.llama
def test_the_bundled_model_loads_and_decodes_with_the_rule_applied(monkeypatch):
    import llama_cpp.llama_cpp as lib

    from bindings.ai.engines.gguf import bundled_gguf

    monkeypatch.setattr(llama_load, "cpu_has_amx", lambda: True)
    before = lib.llama_model_default_params
    llm = llama_load.new_llama(model_path=str(bundled_gguf()), n_ctx=256, verbose=False)
    assert llm.model_params.use_extra_bufts is False
    assert lib.llama_model_default_params is before  # swapped back after loading
    out = llm.create_completion("The sky is", max_tokens=4, temperature=0)
    assert out["usage"]["completion_tokens"] > 0
