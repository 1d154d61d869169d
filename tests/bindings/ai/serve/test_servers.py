"""Each server's flags, checked against the flags its documentation lists."""

from __future__ import annotations

import pytest

from bindings.ai.serve.servers import IMAGES, SERVERS, Launch, get_server
from bindings.ai.serve.spec import ServeError, ServeSpec

#: from docs.vllm.ai "Engine Arguments" (`vllm serve --help`)
VLLM_FLAGS = {"--model", "--quantization", "--dtype", "--max-model-len",
              "--tensor-parallel-size", "--pipeline-parallel-size", "--served-model-name",
              "--gpu-memory-utilization", "--host", "--port", "--api-key"}
#: from TGI's docs/source/reference/launcher.md
TGI_FLAGS = {"--model-id", "--quantize", "--dtype", "--max-input-tokens", "--max-total-tokens",
             "--num-shard", "--hostname", "--port", "--cuda-memory-fraction", "--api-key"}
#: from TEI's docs/source/en/cli_arguments.md
TEI_FLAGS = {"--model-id", "--dtype", "--hostname", "--port", "--pooling", "--api-key"}
DOCUMENTED = {"vllm": VLLM_FLAGS, "tgi": TGI_FLAGS, "tei": TEI_FLAGS}

AWQ = ServeSpec("@hf/thebloke/llama-2-13b-chat-awq", "Text Generation",
                "TheBloke/Llama-2-13B-chat-AWQ", "awq", None, 4096, 7.3, ("vllm", "tgi"))
FP16 = ServeSpec("@cf/meta/llama-2-7b-chat-fp16", "Text Generation",
                 "meta-llama/Llama-2-7b-chat-hf", "fp16", None, 4096, 15.6, ("vllm", "tgi"))
INT8 = ServeSpec("@cf/meta/llama-2-7b-chat-int8", "Text Generation",
                 "meta-llama/Llama-2-7b-chat-hf", "int8", None, 4096, 7.8, ("vllm", "tgi"))
EMBED = ServeSpec("@cf/baai/bge-small-en-v1.5", "Text Embeddings", "BAAI/bge-small-en-v1.5",
                  "fp16", "float16", 512, 0.1, ("tei",))


def flags(args):
    return {a for a in args if a.startswith("--")}


@pytest.mark.parametrize("server", ["vllm", "tgi"])
@pytest.mark.parametrize("spec", [AWQ, FP16, INT8])
@pytest.mark.parametrize("native", [False, True])
def test_every_flag_is_one_the_server_documents(server, spec, native):
    launch = Launch(tensor_parallel=2, gpu_memory_utilization=0.85, port=8000)
    args = SERVERS[server].args(spec, launch, native=native)
    assert flags(args) <= DOCUMENTED[server]


def test_vllm_in_its_image_as_the_docker_guide_runs_it():
    args = SERVERS["vllm"].args(AWQ, Launch(), native=False)
    assert args == ["--model", "TheBloke/Llama-2-13B-chat-AWQ", "--quantization", "awq",
                    "--max-model-len", "4096"]


def test_vllm_native_takes_the_repo_positionally_and_listens_where_told():
    args = SERVERS["vllm"].args(FP16, Launch(tensor_parallel=2, port=8005), native=True)
    assert args[0] == "meta-llama/Llama-2-7b-chat-hf"
    assert args[args.index("--dtype") + 1] == "float16"
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[-4:] == ["--host", "127.0.0.1", "--port", "8005"]
    assert SERVERS["vllm"].native == ("vllm", "serve")


def test_tgi_never_sends_dtype_with_quantize():
    awq = SERVERS["tgi"].args(AWQ, Launch(), native=False)
    assert awq[:4] == ["--model-id", "TheBloke/Llama-2-13B-chat-AWQ", "--quantize", "awq"]
    assert "--dtype" not in awq
    fp16 = SERVERS["tgi"].args(FP16, Launch(), native=False)
    assert "--quantize" not in fp16 and fp16[fp16.index("--dtype") + 1] == "float16"
    # the context: inputs + new tokens fit the model's 4096
    assert fp16[fp16.index("--max-input-tokens") + 1] == "4095"
    assert fp16[fp16.index("--max-total-tokens") + 1] == "4096"
    assert fp16[fp16.index("--num-shard") + 1] == "1"


def test_int8_is_eetq_on_tgi_and_full_weights_on_vllm():
    assert "eetq" in SERVERS["tgi"].args(INT8, Launch(), native=False)
    assert "--quantization" not in SERVERS["vllm"].args(INT8, Launch(), native=False)


def test_tei_takes_the_model_id_and_refuses_tensor_parallelism():
    assert SERVERS["tei"].args(EMBED, Launch(), native=False) == [
        "--model-id", "BAAI/bge-small-en-v1.5", "--dtype", "float16"]
    with pytest.raises(ServeError, match="TEI has no tensor parallelism"):
        SERVERS["tei"].args(EMBED, Launch(tensor_parallel=2), native=False)


def test_extra_args_come_last_as_given():
    spec = ServeSpec(**{**AWQ.__dict__, "extra_args": {"vllm": ("--enforce-eager",)}})
    args = SERVERS["vllm"].args(spec, Launch(extra_args=("--enable-prefix-caching",)),
                                native=False)
    assert args[-2:] == ["--enforce-eager", "--enable-prefix-caching"]


def test_images_are_official_and_pinned():
    assert IMAGES["vllm"].startswith("docker.io/vllm/vllm-openai:v")
    assert IMAGES["tgi"].startswith("ghcr.io/huggingface/text-generation-inference:")
    assert IMAGES["tei"].startswith("ghcr.io/huggingface/text-embeddings-inference:")
    for image in IMAGES.values():
        tag = image.rpartition(":")[2]
        assert tag[:1].isdigit() or tag.startswith("v"), image  # a version, never "latest"


def test_tei_picks_the_image_built_for_the_gpu():
    tei = get_server("tei")
    assert tei.image("8.6").endswith(":86-" + IMAGES["tei"].rpartition(":")[2])
    assert tei.image("9.0").rpartition(":")[2].startswith("hopper-")
    assert tei.image(None) == IMAGES["tei"]
    assert get_server("vllm").image("8.6") == IMAGES["vllm"]


def test_unknown_server():
    with pytest.raises(ServeError, match="unknown server 'sglang'"):
        get_server("sglang")
