"""`edge dev` flags -> DevOptions (the command is a thin layer over emulator.dev.run)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import emulator.dev
from emulator.cli import main


def run(args, monkeypatch):
    seen = {}

    def fake_run(options):
        seen["options"] = options
        return 0

    monkeypatch.setattr(emulator.dev, "run", fake_run)
    result = CliRunner().invoke(main, ["dev", *args])
    return result, seen.get("options")


def test_flags_become_dev_options(monkeypatch):
    result, options = run(
        [
            "examples/workers/hello",
            "--env",
            "staging",
            "--ip",
            "0.0.0.0",
            "--port",
            "9000",
            "--var",
            "A:1",
            "--var",
            "B:two:parts",
            "--persist-to",
            "state",
            "--test-scheduled",
            "--ai-route",
            "*=scripted:echo",
            "--ai-route",
            "@cf/x=vllm:http://h:8000",
            "--api-port",
            "9100",
            "--log-level",
            "warn",
        ],
        monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert options.path == Path("examples/workers/hello")
    assert (options.env, options.ip, options.port, options.api_port) == (
        "staging",
        "0.0.0.0",
        9000,
        9100,
    )
    assert options.vars == {"A": "1", "B": "two:parts"}
    assert options.persist_to == Path("state")
    assert options.test_scheduled and options.api and options.reload
    assert options.ai_routes == ["*=scripted:echo", "@cf/x=vllm:http://h:8000"]
    assert options.log_level == "warn"


def test_defaults_leave_choices_to_the_config(monkeypatch):
    result, options = run([], monkeypatch)
    assert result.exit_code == 0, result.output
    assert options.path is None and options.port is None and options.ip is None
    assert options.api_port is None and not options.test_scheduled


def test_no_api_and_no_reload(monkeypatch):
    _, options = run(["--no-api", "--no-reload"], monkeypatch)
    assert not options.api and not options.reload


def test_api_token_from_flag_or_environment(monkeypatch):
    monkeypatch.delenv("EDGE_API_TOKEN", raising=False)
    assert run([], monkeypatch)[1].api_token is None
    assert run(["--api-token", "t1"], monkeypatch)[1].api_token == "t1"
    monkeypatch.setenv("EDGE_API_TOKEN", "t2")
    assert run([], monkeypatch)[1].api_token == "t2"


def test_a_bad_var_is_a_usage_error(monkeypatch):
    result, options = run(["--var", "NOCOLON"], monkeypatch)
    assert result.exit_code == 2 and options is None
    assert "NOCOLON" in result.output and "KEY:VALUE" in result.output
