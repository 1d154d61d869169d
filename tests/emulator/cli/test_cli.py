"""emulator.cli: an EdgeError from any command is shown once, with its hint, no traceback."""

from __future__ import annotations

from click.testing import CliRunner

from emulator.cli import main


def test_an_edge_error_is_message_hint_and_exit_code(tmp_path):
    (tmp_path / "edge.toml").write_text("[ai.routes\n")
    result = CliRunner().invoke(main, ["ai", "status", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {tmp_path / 'edge.toml'}: invalid TOML")
    assert "Traceback" not in result.output

    result = CliRunner().invoke(main, ["ai", "status", "--ai-route", "nonsense"])
    assert result.exit_code == 2  # a route given on the command line is wrong
    assert "Error: AI route 'nonsense': expected MODEL=ENGINE" in result.output
    assert "hint: a route is MODEL=ENGINE[:ARG,...]" in result.output


def test_a_binding_error_from_the_local_state_commands(tmp_path):
    (tmp_path / "w.py").write_text("")
    (tmp_path / "wrangler.toml").write_text(
        'main = "w.py"\ncompatibility_flags = ["python_workers"]\n'
        '[[kv_namespaces]]\nbinding = "KV"\nid = "n1"\n'
    )
    result = CliRunner().invoke(main, ["kv", "key", "put", "..", "v", "--binding", "KV",
                                       "--cwd", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith('Error: Illegal key name "..".')
