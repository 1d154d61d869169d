import json

import pytest
from click.testing import CliRunner

from emulator.cli import main

FP16 = "@cf/meta/llama-2-7b-chat-fp16"
AWQ = "@hf/thebloke/llama-2-13b-chat-awq"
ECHO = ["--ai-route", "*=scripted:echo"]


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGE_AI_ROUTES", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def invoke(runner, *args, input=None):
    return runner.invoke(main, ["ai", *args], input=input, catch_exceptions=False)


def test_run_prints_the_response_text(runner):
    result = invoke(runner, "run", FP16, "--prompt", "Hello there", *ECHO)
    assert result.exit_code == 0
    assert result.stdout == "Hello there\n"
    assert "completion tokens" in result.stderr


def test_dev_log_notes_go_to_the_current_stderr(runner):
    for _ in range(2):  # each invocation gets its own captured stderr
        result = invoke(runner, "run", FP16, "--prompt", "x", "--input-json", '{"zz": 1}', *ECHO)
        assert "AI @cf/meta/llama-2-7b-chat-fp16 (scripted)" in result.stderr
        assert "input key(s) zz are not in the model's schema" in result.stderr


def test_run_json_prints_the_whole_result(runner):
    result = invoke(runner, "run", FP16, "--prompt", "Hi", "--json", *ECHO)
    data = json.loads(result.stdout)
    assert data["response"] == "Hi"
    assert data["usage"]["completion_tokens"] == 1


def test_run_stream_prints_sse_frames(runner):
    result = invoke(runner, "run", AWQ, "--prompt", "a b", "--stream", *ECHO)
    assert result.exit_code == 0
    assert result.stdout.startswith('data: {"response":"a"}\n\ndata: {"response":" b"}\n\n')
    assert result.stdout.endswith("data: [DONE]\n\n")


def test_run_messages_json_system_and_parameters_reach_the_engine(runner, tmp_path):
    messages = [{"role": "user", "content": "from a file"}]
    (tmp_path / "m.json").write_text(json.dumps(messages))
    result = invoke(
        runner,
        "run",
        FP16,
        "--messages-json",
        "@m.json",
        "--system",
        "Be brief",
        "--max-tokens",
        "2",
        "--json",
        "--ai-route",
        "*=scripted:echo",
    )
    assert json.loads(result.stdout)["response"] == "from a"


def test_run_messages_from_stdin(runner):
    result = invoke(
        runner,
        "run",
        FP16,
        "--messages-json",
        "-",
        *ECHO,
        input='[{"role": "user", "content": "stdin"}]',
    )
    assert result.stdout == "stdin\n"


def test_run_raw_sends_the_prompt_verbatim(runner):
    result = invoke(
        runner,
        "run",
        FP16,
        "--prompt",
        "[INST] x [/INST]",
        "--raw",
        "--ai-route",
        "*=scripted:echo",
    )
    assert result.stdout == "[INST] x [/INST]\n"


def test_run_reads_routes_from_edge_toml(runner, tmp_path):
    (tmp_path / "edge.toml").write_text(
        f'[ai.routes."{FP16}"]\nengine = "scripted"\noptions = {{ text = "from the file" }}\n'
    )
    result = invoke(runner, "run", FP16, "--prompt", "x")
    assert result.stdout == "from the file\n"


def test_run_reads_routes_from_the_environment(runner, monkeypatch):
    monkeypatch.setenv("EDGE_AI_ROUTES", "*=scripted:text=from env")
    assert invoke(runner, "run", FP16, "--prompt", "x").stdout == "from env\n"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        ((FP16, "--prompt", ""), 1, "Error: 5006: Error: oneOf at '/' not met"),
        (("@cf/x/y", "--prompt", "x"), 1, "Error: 5007: No such model @cf/x/y"),
        ((FP16, "--prompt", "x", "--max-tokens", "-"), 2, "'-' is not a valid integer"),
        ((FP16,), 2, "give --prompt, --messages-json"),
        ((FP16, "--prompt", "x", "--messages-json", "[]"), 2, "not both"),
        ((FP16, "--messages-json", "[oops"), 2, "not valid JSON"),
        ((FP16, "--messages-json", "@missing.json"), 2, "cannot read missing.json"),
        ((FP16, "--prompt", "x", "--input-json", "[]"), 2, "expected a JSON object"),
        ((FP16, "--prompt", "x", "--system", "s", "--raw"), 2, "--system needs a chat template"),
    ],
)
def test_run_errors(runner, args, code, fragment):
    result = invoke(runner, "run", *args, *ECHO)
    assert result.exit_code == code
    assert fragment in result.stderr


def test_run_bad_route_is_a_clear_error(runner):
    result = invoke(runner, "run", FP16, "--prompt", "x", "--ai-route", "*=")
    assert result.exit_code == 2
    assert "AI route '*=': the engine part is empty" in result.stderr


def test_status_lists_engines_and_health(runner):
    result = invoke(runner, "status", "--ai-route", "*=scripted:text=hi")
    assert result.exit_code == 0
    from bindings.ai.catalogue import load_catalogue
    from bindings.ai.tasks import get_task

    entries = load_catalogue().entries()
    lines = result.stdout.splitlines()
    assert len(lines) == len(entries) + 1
    assert lines[-1] == "ok   *=scripted:text=hi: scripted (fixed text)"
    for entry, line in zip(entries, lines, strict=False):
        served = get_task(entry.task_name) is not None  # every task edge runs
        assert line.startswith(f"{entry.name} → " + ("scripted: fixed text" if served
                                                      else "not served: "))
    assert f"{AWQ} → scripted: fixed text" in result.stdout


def test_status_reports_bad_routes(runner):
    result = invoke(runner, "status", "--ai-route", f"{FP16}x=scripted")
    assert result.exit_code == 2
    assert f"did you mean {FP16}?" in result.stderr
    result = invoke(runner, "status", "--ai-route", "*=warp")
    assert result.exit_code == 2
    assert "AI route '*=warp': unknown AI engine 'warp' (known: encoder, llamacpp" in result.stderr


def test_run_stream_error_mid_stream_ends_with_an_error_frame_and_exit_1(runner):
    result = invoke(
        runner,
        "run",
        FP16,
        "--prompt",
        "a b c",
        "--stream",
        "--ai-route",
        "*=scripted:fail_after=1",
    )
    assert result.exit_code == 1
    assert result.stdout.endswith(
        'event: error\ndata: {"error":"3043: scripted failure after 1 tokens","code":3043}\n\n'
    )
    assert "[DONE]" not in result.stdout
    assert "failed mid-stream" in result.stderr
