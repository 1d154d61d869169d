"""`edge d1 execute` and `edge d1 migrations list/apply` against the local state."""

from __future__ import annotations

import json

from click.testing import CliRunner

from emulator.cli import main

CONFIG = """
name = "d1cli"
main = "entry.py"
compatibility_flags = ["python_workers"]

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "app-id"
migrations_dir = "sql"
"""


def project(tmp_path):
    (tmp_path / "entry.py").write_text("")
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "0001_init.sql").write_text(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT);\n"
        "INSERT INTO items (label) VALUES ('first');\n"
    )
    return tmp_path


def run(*args):
    result = CliRunner().invoke(main, ["d1", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_migrations_then_execute(tmp_path):
    root = str(project(tmp_path))
    assert run("migrations", "list", "DB", "--cwd", root) == (0, "0001_init.sql\n")
    assert run("migrations", "apply", "app-db", "--local", "--cwd", root) == (
        0, "applied 0001_init.sql\n",
    )  # fmt: skip
    assert run("migrations", "apply", "DB", "--cwd", root) == (0, "No migrations to apply.\n")
    sql = "INSERT INTO items (label) VALUES ('two'); SELECT label FROM items"
    code, out = run("execute", "DB", "--cwd", root, "--json", "--command", sql)
    assert code == 0
    results = json.loads(out)
    assert results[0]["meta"]["changes"] == 1
    assert [row["label"] for row in results[1]["results"]] == ["first", "two"]
    code, out = run("execute", "DB", "--cwd", root, "--command", "SELECT label FROM items")
    assert code == 0 and "first" in out and "two" in out
    assert (tmp_path / ".wrangler" / "state" / "v3" / "d1" / "app-id.sqlite").is_file()


def test_errors(tmp_path):
    root = str(project(tmp_path))
    code, out = run("execute", "NOPE", "--cwd", root, "--command", "SELECT 1")
    assert code == 1 and "no d1_databases binding 'NOPE'" in out and "DB (app-db, app-id)" in out
    code, out = run("execute", "DB", "--cwd", root, "--command", "SELECT * FROM missing")
    assert code == 1 and "no such table: missing" in out
    code, out = run("execute", "DB", "--cwd", root)
    assert code == 2 and "exactly one of --command and --file" in out
    code, out = run("execute", "DB", "--cwd", root, "--remote", "--command", "SELECT 1")
    assert code == 2 and "local only" in out


def test_execute_refuses_what_d1_refuses(tmp_path):
    root = str(project(tmp_path))
    stolen = tmp_path / "stolen.sqlite"
    sql = f"ATTACH '{stolen}' AS s; CREATE TABLE s.t (x)"
    code, out = run("execute", "DB", "--cwd", root, "--command", sql)
    assert code == 1
    assert "D1_ERROR: not authorized: SQLITE_AUTH" in out and "ATTACH" in out  # and why
    assert not stolen.exists()
