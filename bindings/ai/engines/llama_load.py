"""Constructing a `llama_cpp.Llama` that runs on this CPU.

ggml's CPU backend gives weights "extra buffer types" at load (`use_extra_bufts`: weight
repacking, and Intel AMX tiles where the CPU advertises them). On Xeons with AMX, in
llama-cpp-python 0.3.36 (seen in a VM that lists `amx_tile`), the first `llama_decode` of
a Q4_1 model crashes the process in `ggml_backend_amx_mul_mat` with SIGSEGV. There is no
environment switch for it, and `Llama(...)` does not take `use_extra_bufts`, so
`new_llama` loads with the extra buffer types off whenever the CPU has AMX (plain AVX2 /
AVX-512 kernels then run the model; nothing else changes). `EDGE_LLAMA_EXTRA_BUFTS=1`
forces them on, `=0` off.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

_lock = threading.RLock()
_library_default: Any = None


@functools.cache
def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
    try:
        text = Path(cpuinfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_tile" in line.split() for line in text.splitlines()
    )


def extra_buffers_enabled() -> bool:
    """Whether models load with ggml's extra buffer types (see the module docstring)."""
    forced = os.environ.get("EDGE_LLAMA_EXTRA_BUFTS")
    if forced in ("0", "1"):
        return forced == "1"
    return not cpu_has_amx()


def model_params() -> Any:
    """`llama_model_default_params()`, with the extra buffer types off when they would crash
    (for code that loads a model through the low-level API)."""
    params = _library_default_params()
    if not extra_buffers_enabled():
        params.use_extra_bufts = False
    return params


def new_llama(**kwargs: Any) -> Any:
    """`llama_cpp.Llama(**kwargs)`, with the extra buffer types off when they would crash."""
    import llama_cpp
    import llama_cpp.llama_cpp as lib

    if extra_buffers_enabled():
        return llama_cpp.Llama(**kwargs)
    # Llama.__init__ reads its model params from this function; swap it only while loading.
    with _lock:
        _library_default_params()  # remember the library's own function before the swap
        original = lib.llama_model_default_params
        lib.llama_model_default_params = model_params
        try:
            return llama_cpp.Llama(**kwargs)
        finally:
            lib.llama_model_default_params = original


def _library_default_params() -> Any:
    global _library_default
    with _lock:
        if _library_default is None:
            import llama_cpp.llama_cpp as lib

            _library_default = lib.llama_model_default_params
        return _library_default()
