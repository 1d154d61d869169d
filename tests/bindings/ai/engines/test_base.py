import pytest

from bindings.ai.engines.base import EVERY_TASK, EngineLabel, serves


@pytest.mark.parametrize(
    ("label", "text"),
    [
        (EngineLabel("llama.cpp", model="SmolLM2-135M-Instruct", stand_in=True),
         "llama.cpp: SmolLM2-135M-Instruct (stand-in)"),
        (EngineLabel("scripted", detail="echo"), "scripted: echo"),
        (EngineLabel("vllm", model="m", where="http://gpu1:8000", detail="unused"),
         "vllm http://gpu1:8000 (m)"),
        (EngineLabel("tgi", where="2 replicas: a, b", detail="model per /info"),
         "tgi 2 replicas: a, b (model per /info)"),
        (EngineLabel("bare"), "bare"),
        (EngineLabel("llama.cpp", model="m", stand_in=True, settings="parallel=4"),
         "llama.cpp: m (stand-in), parallel=4"),
    ],
)
def test_engine_labels_render_the_banner_wording(label, text):
    assert str(label) == text


class _Plain:
    pass


class _Embedder:
    capabilities = frozenset({"text-embeddings"})


class _Any:
    capabilities = EVERY_TASK


def test_serves_reads_declared_capabilities():
    assert serves(_Plain(), "text-generation") and not serves(_Plain(), "text-embeddings")
    assert serves(_Embedder(), "text-embeddings") and not serves(_Embedder(), "text-generation")
    assert serves(_Any(), "text-to-image")
