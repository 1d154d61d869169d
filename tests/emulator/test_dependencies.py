"""A worker's pyproject.toml dependencies against this environment."""

import shlex
import sys
from importlib import metadata

import pytest

from emulator import dependencies
from emulator.dependencies import DependencyError, Missing

HTTPX = metadata.version("httpx")


def project(root, *deps: str):
    listed = ", ".join(f'"{d}"' for d in deps)
    (root / "pyproject.toml").write_text(f'[project]\nname = "w"\ndependencies = [{listed}]\n')
    return root


def test_no_pyproject_means_nothing_to_check(tmp_path):
    assert dependencies.check(tmp_path) == []


def test_met_requirements_pass(tmp_path):
    project(tmp_path, "httpx", f"httpx=={HTTPX}", "HTTPX>=0.1", "workers-runtime-sdk")
    assert dependencies.check(tmp_path) == []


def test_missing_and_wrong_versions_are_named(tmp_path):
    project(tmp_path, "edge-surely-not-a-package>=1", "httpx<0.1")
    assert dependencies.check(tmp_path) == [
        Missing("edge-surely-not-a-package>=1", None),
        Missing("httpx<0.1", HTTPX),
    ]


def test_markers_are_evaluated(tmp_path):
    project(tmp_path, "edge-not-a-package; python_version < '3'", "httpx<0.1; os_name == 'x'")
    assert dependencies.check(tmp_path) == []


def test_vendored_python_modules_count(tmp_path):
    dist = tmp_path / "python_modules" / "vendored_thing-1.2.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendored-thing\nVersion: 1.2\n")
    project(tmp_path, "vendored-thing>=1", "vendored_thing<1")
    assert dependencies.check(tmp_path) == [Missing("vendored_thing<1", "1.2")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[project]\ndependencies = ["not a ^ requirement"]\n', "'not a ^ requirement'"),
        ('[project]\ndependencies = "httpx"\n', "must be an array of strings"),
        ("[project\n", "pyproject.toml"),
    ],
)
def test_bad_pyproject_is_a_clear_error(tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(DependencyError, match=r"pyproject\.toml") as caught:
        dependencies.check(tmp_path)
    assert message in str(caught.value)


def test_summary_is_one_line_with_the_command():
    line = dependencies.summary([Missing("fastapi>=0.110", None), Missing("httpx<0.1", "0.28")])
    assert "\n" not in line
    assert "fastapi>=0.110 (not installed), httpx<0.1 (0.28 installed)" in line
    command = shlex.join([sys.executable, "-m", "pip", "install", "fastapi>=0.110", "httpx<0.1"])
    assert command in line and "--install-deps" in line


def test_install_runs_pip_in_this_environment(monkeypatch):
    ran = []

    class Done:
        returncode = 0

    monkeypatch.setattr(dependencies.subprocess, "run", lambda cmd, check: ran.append(cmd) or Done)
    assert dependencies.install([Missing("fastapi", None)])
    assert ran == [[sys.executable, "-m", "pip", "install", "fastapi"]]
