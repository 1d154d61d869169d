"""Phases read from the servers' own start-up logs."""

from __future__ import annotations

import io
import json

from rich.console import Console

from bindings.ai.serve.progress import Display, Phases, Status
from tests.fakes.fake_container import ready_line, startup_log


def phases(server: str, lines: list[str]) -> list[tuple[str, int | None]]:
    reader, seen = Phases(server), []
    for line in lines:
        if reader.feed(line):
            seen.append((reader.status.phase, reader.status.percent))
    return seen


def test_vllm_download_load_warm_up_ready():
    lines = [*startup_log("vllm", "org/m"), ready_line("vllm", 8000)]
    assert phases("vllm", lines) == [
        ("downloading", None), ("downloading", 45), ("downloading", 100),
        ("loading", None), ("loading", 50), ("loading", 100), ("warming up", None),
        ("ready", None),
    ]


def test_tgi_plain_and_json_output():
    lines = [*startup_log("tgi", "org/m"), ready_line("tgi", 80)]
    expected = [("downloading", None), ("loading", None), ("warming up", None),
                ("ready", None)]
    assert phases("tgi", lines) == expected
    as_json = [json.dumps({"timestamp": "t", "level": "INFO",
                           "fields": {"message": line.split(": ", 1)[-1]}}) for line in lines]
    assert phases("tgi", as_json) == expected


def test_tei_phases():
    lines = [*startup_log("tei", "org/m"), ready_line("tei", 80)]
    assert [p for p, _ in phases("tei", lines)] == ["downloading", "loading", "warming up",
                                                    "ready"]


def test_phases_never_go_back_and_errors_are_kept():
    reader = Phases("vllm")
    reader.feed("Loading safetensors checkpoint shards:  50% Completed | 1/2")
    assert not reader.feed("model-00002-of-00002.safetensors:  10%|#   | 1G/10G")
    assert reader.status.phase == "loading"
    assert not reader.feed("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
    assert reader.errors == ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"]
    assert not reader.feed("some unrelated line")


def test_plain_display_prints_each_change_once():
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=False, width=200))
    with display:
        display.update("r0", "m [vllm]", Status("downloading", "", 45))
        display.update("r0", "m [vllm]", Status("downloading", "other detail", 45))
        display.update("r0", "m [vllm]", Status("healthy", "http://127.0.0.1:8000"))
    assert out.getvalue().splitlines() == ["m [vllm]: downloading 45%", "m [vllm]: healthy"]


def test_terminal_display_is_a_live_table():
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=True, width=120))
    with display:
        display.update("r0", "m [vllm]", Status("loading", "Loading weights", 50))
    text = out.getvalue()
    assert "loading" in text and "50%" in text and "##########" in text
