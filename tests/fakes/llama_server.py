"""`python tests/fakes/llama_server.py ARGS...`: llama-cpp-python's own OpenAI server
(`python -m llama_cpp.server ARGS...`), unchanged but for the CPU rule of
`bindings.ai.engines.llama_load` (no extra buffer types where ggml's AMX kernels crash),
which the server has no flag for."""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import llama_cpp.llama_cpp as lib

from bindings.ai.engines.llama_load import extra_buffers_enabled

if not extra_buffers_enabled():
    defaults = lib.llama_model_default_params

    def _without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = _without_extra_buffers

sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
