"""Backend error bodies and transport failures -> Cloudflare-style AiErrors."""

from __future__ import annotations

import httpx
import pytest

from bindings.ai.engines import http_errors
from bindings.ai.engines.http_errors import BackendUnavailable, error_message, from_status

URL = "http://gpu1:8000/v1/completions"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "bad top_p", "type": "BadRequestError", "code": 400}}',
            ("bad top_p", "BadRequestError"),
        ),
        (
            b'{"object": "error", "message": "old style", "type": "BadRequestError"}',
            ("old style", "BadRequestError"),
        ),
        (
            b'{"error": "Model is overloaded", "error_type": "overloaded"}',
            ("Model is overloaded", "overloaded"),
        ),
        (
            b'{"detail": [{"loc": ["body", "max_tokens"], "msg": "must be an int"}]}',
            ("max_tokens: must be an int", None),
        ),
        (b"<html>502 Bad Gateway</html>", ("<html>502 Bad Gateway</html>", None)),
        (b"", ("(empty body)", None)),
    ],
)
def test_error_message_reads_every_servers_shape(body, expected):
    assert error_message(body) == expected


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, b'{"error": {"message": "top_p must be in (0, 1], got 1.5."}}', 3010),
        (422, b'{"error": "`top_k` must be strictly positive", "error_type": "validation"}', 3010),
        (
            400,
            b'{"error": {"message": "This model\'s maximum context length is 4096 tokens."}}',
            3030,
        ),
        (
            422,
            b'{"error": "`inputs` must have less than 10 tokens. Given: 12", '
            b'"error_type": "validation"}',
            3030,
        ),
        (429, b'{"error": "Model is overloaded", "error_type": "overloaded"}', 3040),
        (503, b'{"error": "Model is overloaded", "error_type": "overloaded"}', 3040),
        (504, b"gateway timeout", 3007),
        (424, b'{"error": "Request failed during generation", "error_type": "generation"}', 3043),
        (500, b"boom", 3043),
        (404, b'{"error": {"message": "The model `x` does not exist."}}', 3043),
    ],
)
def test_status_codes_map_to_cloudflare_codes(status, body, code):
    error = from_status(status, body, url=URL)
    assert error.code == code
    assert URL in error.description


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"error": {"message": "CUDA out of memory", "type": "InternalServerError"}}, 3043),
        ({"error": "Model is overloaded", "error_type": "overloaded"}, 3040),
        ({"error": "`stop` supports up to 4 stop sequences", "error_type": "validation"}, 3010),
    ],
)
def test_error_frames_mid_stream(frame, code):
    assert http_errors.from_stream_error(frame, url=URL).code == code


def test_transport_failures():
    request = httpx.Request("POST", URL)
    refused = http_errors.from_transport(
        httpx.ConnectError("All connection attempts failed", request=request),
        url=URL,
        backend="vllm",
        hint="vllm serve X --port 8000",
    )
    assert isinstance(refused, BackendUnavailable) and refused.code == 3043
    assert "connection refused" in str(refused) and "vllm serve X --port 8000" in str(refused)
    read = http_errors.from_transport(
        httpx.ReadTimeout("slow", request=request), url=URL, backend="vllm", hint=""
    )
    assert read.code == 3007 and not isinstance(read, BackendUnavailable)
    broken = http_errors.from_transport(
        httpx.RemoteProtocolError("peer closed", request=request), url=URL, backend="tgi", hint=""
    )
    assert broken.code == 3043 and "broke" in str(broken)


def test_start_hints_follow_the_url_port():
    assert http_errors.start_hint("vllm", "http://gpu1:9000") == (
        "vllm serve TheBloke/Llama-2-13B-chat-AWQ --quantization awq --port 9000"
    )
    assert http_errors.start_hint("tgi", "http://gpu1", "my/model") == (
        "text-generation-launcher --model-id my/model --port 80"
    )


def test_a_route_for_a_served_catalogue_model_hints_edge_ai_serve_and_its_command():
    hint = http_errors.start_hint(
        "vllm", "http://127.0.0.1:8001", None, "@hf/thebloke/llama-2-13b-chat-awq"
    )
    assert hint.startswith(
        "edge ai serve @hf/thebloke/llama-2-13b-chat-awq --engine vllm --port 8001, or run "
    )
    assert "`vllm serve TheBloke/Llama-2-13B-chat-AWQ --quantization awq" in hint
    assert hint.endswith("--host 127.0.0.1 --port 8001`")


def test_a_remote_server_gets_its_command_to_run_there_not_edge_ai_serve():
    hint = http_errors.start_hint("tgi", "http://gpu1:8080", None,
                                  "@cf/meta/llama-3.1-8b-instruct")
    assert hint.startswith("on gpu1, run `text-generation-launcher --model-id ")
    assert "--hostname 0.0.0.0 --port 8080`" in hint and "edge ai serve" not in hint


@pytest.mark.parametrize("model, served", [
    ("*", None),                                          # a glob: no one model to serve
    ("@cf/meta/llama-3.1-8b-instruct", "my/finetune"),    # other weights than the catalogue's
    ("@acme/not-in-the-catalogue", None),
])
def test_without_catalogue_serving_data_the_hint_is_the_servers_own_command(model, served):
    hint = http_errors.start_hint("vllm", "http://127.0.0.1:9000", served, model)
    assert hint == f"vllm serve {served or 'TheBloke/Llama-2-13B-chat-AWQ --quantization awq'}"\
        " --port 9000"
