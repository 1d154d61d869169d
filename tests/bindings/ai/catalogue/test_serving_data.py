"""Serving data: the family files, their models tables, the typed accessor, the estimate."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from bindings.ai.catalogue import CatalogueError, HubFile, ServingInfo, load_catalogue
from bindings.ai.catalogue import serving as serving_module
from bindings.ai.catalogue.serving import (
    ENGINE_NAMES,
    FAMILIES_DIR,
    estimate_gpu_memory,
    family_models,
    family_names,
    load_family,
    parse_serving,
)

CATALOGUE = load_catalogue()


def test_every_family_file_loads_and_names_itself():
    for name in family_names():
        assert load_family(name)["family"] == name


def test_every_model_a_family_serves_is_in_the_catalogue_and_parses():
    served = family_models()
    assert len(served) >= 45
    for name in served:
        serving = CATALOGUE.get(name).serving
        assert serving.family == served[name][0]
        assert serving.hf_repo, name
        assert serving.quantization and serving.gpu_memory_gib, name
        assert set(serving.engines) <= ENGINE_NAMES and serving.engines, name
        if "llamacpp" in serving.engines:
            assert serving.gguf and serving.gguf.file.endswith(".gguf"), name


@pytest.mark.parametrize("name", [
    "@cf/meta/llama-2-7b-chat-int8", "@hf/meta-llama/meta-llama-3-8b-instruct",
    "@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.2-3b-instruct",
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/meta/llama-4-scout-17b-16e-instruct",
    "@cf/mistral/mistral-7b-instruct-v0.1", "@hf/google/gemma-7b-it", "@cf/google/gemma-3-12b-it",
    "@cf/qwen/qwen1.5-7b-chat-awq", "@cf/qwen/qwen2.5-coder-32b-instruct",
    "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", "@cf/openai/gpt-oss-120b",
])
def test_the_popular_families_have_serving_data(name):
    serving = CATALOGUE.get(name).serving
    assert serving.hf_repo and serving.context_length and serving.dtype
    assert "vllm" in serving.engines


@pytest.mark.parametrize(("name", "dimensions"), [
    ("@cf/baai/bge-small-en-v1.5", 384), ("@cf/baai/bge-base-en-v1.5", 768),
    ("@cf/baai/bge-large-en-v1.5", 1024), ("@cf/baai/bge-m3", 1024),
    ("@cf/google/embeddinggemma-300m", 768), ("@cf/qwen/qwen3-embedding-0.6b", 1024),
])
def test_embedding_models_route_to_tei_or_vllm(name, dimensions):
    entry = CATALOGUE.get(name)
    assert entry.task_name == "Text Embeddings"
    serving = entry.serving
    assert serving.engines == ("tei", "vllm") and serving.dimensions == dimensions
    assert serving.prompt_format is None and serving.chat_template is None
    # the published description states the same dimension where it states one
    assert str(dimensions) in entry.description or "dimensional" not in entry.description


def test_the_accessor_is_frozen_and_json_ready():
    serving = CATALOGUE.get("@cf/meta/llama-3.1-8b-instruct-awq").serving
    with pytest.raises(dataclasses.FrozenInstanceError):
        serving.quantization = "fp16"
    data = serving.as_dict()
    assert data["hf_repo"] == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"
    assert data["chat_template"] == {"repo": "meta-llama/Llama-3.1-8B-Instruct",
                                     "file": "tokenizer_config.json"}
    assert data["gguf"]["file"] == "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    assert (data["quantization"], data["dtype"]) == ("awq", "float16")
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert CATALOGUE.get("@cf/meta/llama-3.1-8b-instruct-awq").serving is serving


def test_gpu_memory_is_weights_times_bits_plus_a_fifth():
    # 7e9 parameters x 16 bits = 13.04 GiB; x 1.2 = 15.65, rounded up to a tenth
    assert estimate_gpu_memory(7, "fp16") == 15.7
    assert estimate_gpu_memory(13, "awq") == 7.8  # 4.25 bits with group scales
    assert estimate_gpu_memory(116.8, "mxfp4") == 69.4
    assert estimate_gpu_memory(None, "fp16") is None
    assert estimate_gpu_memory(7, None) is None
    fp16 = CATALOGUE.get("@cf/meta/llama-2-7b-chat-fp16").serving
    assert fp16.gpu_memory_gib == 15.7 and fp16.bits == 16


def test_a_given_gpu_memory_wins_over_the_estimate(tmp_path):
    serving = parse_serving(tmp_path / "x", {"size_b": 7, "quantization": "fp16",
                                              "gpu_memory_gib": 20})
    assert serving.gpu_memory_gib == 20


def test_llamacpp_is_listed_only_with_a_gguf(tmp_path):
    without = parse_serving(tmp_path / "x", {"engines": ["vllm", "llamacpp"]})
    assert without.engines == ("vllm",)
    with_gguf = parse_serving(tmp_path / "x", {"engines": ["vllm", "llamacpp"],
                                                "gguf": {"repo": "r", "file": "f.gguf"}})
    assert with_gguf.engines == ("vllm", "llamacpp") and with_gguf.gguf == HubFile("r", "f.gguf")


def test_a_family_fills_repos_template_and_gguf_per_size(tmp_path):
    serving = parse_serving(tmp_path / "x", {"family": "llama-3.1-instruct", "size_b": 70,
                                              "format": "fp8", "quantization": "fp8"})
    assert serving.hf_repo == "neuralmagic/Meta-Llama-3.1-70B-Instruct-FP8"
    assert serving.chat_template == HubFile("meta-llama/Llama-3.1-70B-Instruct",
                                            "tokenizer_config.json")
    assert serving.gguf is None and serving.engines == ("vllm", "tgi")
    assert serving.context_length == 131072


def test_a_row_overrides_its_family(tmp_path):
    serving = parse_serving(tmp_path / "x", {"family": "gemma-it", "size_b": 8.5,
                                              "context_length": 2048, "dtype": "float32"})
    assert (serving.context_length, serving.dtype) == (2048, "float32")


def test_an_entry_without_serving_data_gets_an_empty_accessor():
    serving = CATALOGUE.get("@cf/black-forest-labs/flux-1-schnell").serving
    assert serving == ServingInfo() and serving.hf_repo is None and serving.bits is None


@pytest.fixture
def families(tmp_path, monkeypatch):
    """A families folder of our own, with the module's caches cleared around the test."""
    monkeypatch.setattr(serving_module, "FAMILIES_DIR", tmp_path)
    for cached in (load_family, family_models, serving_module.shipped_serving):
        cached.cache_clear()
    yield tmp_path
    for cached in (load_family, family_models, serving_module.shipped_serving):
        cached.cache_clear()


@pytest.mark.parametrize(("files", "message"), [
    ({"a.yaml": "family: b\n"}, "a.yaml: family must be a mapping whose 'family' is 'a'"),
    ({"a.yaml": "family: a\nsizez: {}\n"}, "a.yaml: sizez is not a known family key"),
    ({"a.yaml": "family: a\nmodels: [x]\n"}, "a.yaml: models must map catalogue names"),
    ({"a.yaml": "family: a\nmodels: {'@cf/x/y': {}}\n",
      "b.yaml": "family: b\nmodels: {'@cf/x/y': {}}\n"},
     "b.yaml: models.@cf/x/y is also served by family a"),
])
def test_malformed_family_files_name_the_file_and_key(families, files, message):
    for name, text in files.items():
        (families / name).write_text(text)
    with pytest.raises(CatalogueError) as info:
        family_models()
    assert message in str(info.value)


def test_a_models_row_error_names_the_family_file_and_model(families):
    (families / "a.yaml").write_text("family: a\nmodels:\n  '@cf/x/y': {quantization: q3}\n")
    with pytest.raises(CatalogueError) as info:
        serving_module.shipped_serving("@cf/x/y")
    assert str(info.value).startswith(f"{families / 'a.yaml'}: models.@cf/x/y.quantization")


def test_the_shipped_families_folder_is_the_packages():
    assert FAMILIES_DIR.name == "families" and (FAMILIES_DIR / "llama-2-chat.yaml").is_file()


def test_engine_args_per_engine_come_from_the_family_or_the_entry(tmp_path):
    serving = load_catalogue().get("@cf/mistralai/mistral-small-3.1-24b-instruct").serving
    assert serving.engine_args["vllm"][:2] == ("--tokenizer-mode", "mistral")
    assert serving.as_dict()["engine_args"]["vllm"][0] == "--tokenizer-mode"
    own = parse_serving(tmp_path / "x", {"engine_args": {"tgi": ["--trust-remote-code"]}})
    assert own.engine_args == {"tgi": ("--trust-remote-code",)}
    with pytest.raises(CatalogueError, match="engine_args must map engine names"):
        parse_serving(tmp_path / "x", {"engine_args": {"sglang": ["--x"]}})
    with pytest.raises(CatalogueError, match="engine_args must map engine names"):
        parse_serving(tmp_path / "x", {"engine_args": {"vllm": "--x"}})
