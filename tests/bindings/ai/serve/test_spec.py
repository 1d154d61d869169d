"""serve_spec: what the catalogue's serving data says to a launcher."""

from __future__ import annotations

import pytest

from bindings.ai.serve.spec import ServeError, serve_spec

AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
FP16 = "@cf/meta/llama-2-7b-chat-fp16"


def test_the_awq_seed_is_served_as_its_model_card_says(catalogue):
    spec = serve_spec(catalogue.get(AWQ))
    assert spec.hf_repo == "TheBloke/Llama-2-13B-chat-AWQ"
    assert spec.quantization == "awq"  # seed 002: `--quantization awq`
    assert spec.context_length == 4096
    assert spec.servers[0] == "vllm"
    # 13e9 weights at 4 bits, plus the 20% overhead: about 7 GiB, not 26
    assert 6 < spec.gpu_memory_gib < 9


def test_the_fp16_seed_needs_its_full_precision_memory(catalogue):
    spec = serve_spec(catalogue.get(FP16))
    assert spec.hf_repo == "meta-llama/Llama-2-7b-chat-hf"
    assert spec.quantization == "fp16"
    assert 14 < spec.gpu_memory_gib < 18


def test_embeddings_models_go_to_tei_first(catalogue):
    spec = serve_spec(catalogue.get("@cf/test/embed-small"))
    assert spec.servers == ("tei", "vllm")
    assert spec.pick_server(None) == "tei"


def test_a_model_without_serving_data_says_what_to_add(catalogue):
    with pytest.raises(ServeError) as info:
        serve_spec(catalogue.get("@cf/test/no-serving"))
    message = str(info.value)
    assert "@cf/test/no-serving has no serving data" in message
    assert "no-serving.md" in message  # the file to edit
    assert "hf_repos" in message and "edge-serving" in message


def test_a_server_the_model_does_not_list_is_refused(catalogue):
    spec = serve_spec(catalogue.get("@cf/test/embed-small"))
    with pytest.raises(ServeError, match="cannot be served by tgi: its serving data lists tei"):
        spec.pick_server("tgi")


def test_the_catalogues_engine_args_reach_the_server_command(catalogue):
    from bindings.ai.serve.servers import SERVERS, Launch

    spec = serve_spec(catalogue.get("@cf/mistralai/mistral-small-3.1-24b-instruct"))
    args = SERVERS["vllm"].args(spec, Launch(), native=False)
    assert args[-6:] == ["--tokenizer-mode", "mistral", "--config-format", "mistral",
                         "--load-format", "mistral"]
