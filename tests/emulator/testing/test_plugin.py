"""The pytest plugin, run the way a user runs it: pytest on a worker project (pytester)."""

import textwrap

import pytest

# Imported here so pytester's in-process runs reuse them: it drops modules first imported
# inside a run, and a re-imported PyYAML no longer matches the catalogue's loader class.
import bindings.ai.binding
import bindings.ai.catalogue
import bindings.kv  # noqa: F401
import emulator.testing.harness  # noqa: F401

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

WORKER = '''
import asyncio
from urllib.parse import urlparse
from workers import Response, WorkerEntrypoint

MODEL = "@hf/thebloke/llama-2-13b-chat-awq"

async def explode():
    await asyncio.sleep(0)
    raise ValueError("background exploded")

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/":
            return Response(f"{self.env.GREETING}!")
        if path == "/ask":
            result = await self.env.AI.run(MODEL, {"prompt": "hi"})
            return Response(result["response"])
        if path == "/count":
            count = int(await self.env.KV.get("n") or 0) + 1
            await self.env.KV.put("n", str(count))
            return Response(str(count))
        if path == "/later":
            self.ctx.wait_until(explode())
            return Response("ok")
        return compute_reply(path)

def compute_reply(path):
    raise LookupError(f"the worker has no route {path}")
'''

CONFIG = '''
name = "plugged"
main = "src/entry.py"
compatibility_date = "2025-06-01"
compatibility_flags = ["python_workers"]
[vars]
GREETING = "Howdy"
[ai]
binding = "AI"
[[kv_namespaces]]
binding = "KV"
id = "k"
'''


@pytest.fixture
def project(pytester):
    pytester.makeini(INI)
    pytester.mkdir("src")
    (pytester.path / "src" / "entry.py").write_text(textwrap.dedent(WORKER))
    (pytester.path / "wrangler.toml").write_text(CONFIG)
    pytester.mkdir("tests")
    return pytester


def write_tests(pytester, source):
    (pytester.path / "tests" / "test_user.py").write_text(textwrap.dedent(source))


def test_fixtures_find_the_worker_and_script_ai(project):
    write_tests(project, '''
        async def test_hello(edge_worker):
            response = await edge_worker().fetch("/")
            assert await response.text() == "Howdy!"

        async def test_ai(edge_worker, ai_script):
            ai_script.set("@hf/thebloke/llama-2-13b-chat-awq", "scripted answer")
            response = await edge_worker().fetch("/ask")
            assert await response.text() == "scripted answer"
            assert ai_script.last_call.inputs == {"prompt": "hi"}

        async def test_overrides(edge_worker):
            worker = edge_worker(vars={"GREETING": "Hey"})
            assert await (await worker.fetch("/")).text() == "Hey!"
    ''')
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_edge_ai_switches_the_engine_per_test(project):
    write_tests(project, '''
        import pytest

        @pytest.mark.parametrize("edge_ai", ["script", "*=scripted:text=routed"], indirect=True)
        async def test_both_ways(edge_worker, ai_script, edge_ai):
            ai_script.set("*", "scripted")
            worker = edge_worker()
            text = await (await worker.fetch("/ask")).text()
            assert text == ("scripted" if edge_ai == "script" else "routed")
            assert worker.ai_calls[-1].inputs == {"prompt": "hi"}
    ''')
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_state_is_isolated_between_tests(project):
    write_tests(project, '''
        import pytest

        @pytest.mark.parametrize("run", [1, 2, 3])
        async def test_counter_starts_fresh(edge_worker, run):
            worker = edge_worker()
            assert await (await worker.fetch("/count")).text() == "1"
            assert await (await worker.fetch("/count")).text() == "2"
    ''')
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_failure_shows_the_workers_traceback(project):
    write_tests(project, '''
        async def test_missing_route(edge_worker):
            await edge_worker().fetch("/nowhere")
    ''')
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "LookupError: the worker has no route /nowhere" in output
    assert 'raise LookupError(f"the worker has no route {path}")' in output
    assert "return compute_reply(path)" in output
    for internal in ("emulator/testing/harness.py", "emulator/worker.py", "_finish"):
        assert internal not in output


def test_unscripted_ai_call_fails_clearly(project):
    write_tests(project, '''
        async def test_ai(edge_worker):
            await edge_worker().fetch("/ask")
    ''')
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ScriptError*has no scripted reply*ai_script.set(*"])


def test_deferred_wait_until_failure_surfaces_at_teardown(project):
    write_tests(project, '''
        async def test_defer(edge_worker):
            worker = edge_worker(wait_until="defer")
            assert await (await worker.fetch("/later")).text() == "ok"
    ''')
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ValueError: background exploded*"])


def test_marker_sets_defaults(project):
    other = project.path / "other"
    other.mkdir()
    (other / "w.py").write_text(
        "from workers import Response\n"
        "async def on_fetch(request, env):\n    return Response(env.WHO)\n"
    )
    (other / "wrangler.toml").write_text(
        'name = "other"\nmain = "w.py"\ncompatibility_date = "2024-01-01"\n'
        'compatibility_flags = ["python_workers"]\n[vars]\nWHO = "other"\n'
    )
    write_tests(project, '''
        import pytest

        pytestmark = pytest.mark.edge_worker("../other", vars={"WHO": "marked"})

        async def test_marked(edge_worker):
            assert await (await edge_worker().fetch("/")).text() == "marked"
    ''')
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_no_wrangler_file_is_a_clear_error(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(test_lost='''
        def test_lost(edge_worker):
            edge_worker()
    ''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no wrangler.toml / wrangler.json(c) at or above*"])


def test_runs_under_xdist(project):
    write_tests(project, '''
        import pytest

        @pytest.mark.parametrize("run", range(6))
        async def test_parallel(edge_worker, ai_script, run):
            ai_script.set("*", f"reply {run}")
            worker = edge_worker()
            assert await (await worker.fetch("/ask")).text() == f"reply {run}"
            assert await (await worker.fetch("/count")).text() == "1"
    ''')
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-n", "2"
    )
    result.assert_outcomes(passed=6)


def test_plugin_import_is_cheap():
    # pytest loads the plugin in every run of every project in the environment
    import subprocess
    import sys

    code = (
        "import sys, emulator.testing.plugin\n"
        "heavy = [m for m in ('bindings.ai.service', 'emulator.testing.harness', 'httpx',"
        " 'jsonschema', 'yaml') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
