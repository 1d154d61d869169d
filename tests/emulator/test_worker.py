import logging
import textwrap
from pathlib import Path

import pytest

import emulator.sdk
from emulator.config import WorkerConfig
from emulator.context import ExecutionContext
from emulator.scheduled import ScheduledController
from emulator.sdk import Request, Response
from emulator.worker import (
    Env,
    HandlerMissingError,
    Worker,
    WorkerLoadError,
    legacy_handlers_allowed,
    load_worker,
)


def write(folder: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def make(folder: Path, files: dict[str, str], *, main: str = "src/entry.py", flags=(),
         env=None, date: str | None = "2025-10-01") -> Worker:
    write(folder, files)
    config = WorkerConfig(file=folder / "wrangler.toml", root=folder, name="test-worker",
                          main=folder / main, compatibility_flags=list(flags),
                          compatibility_date=date)
    return load_worker(config, env if env is not None else {"GREETING": "hi"})


async def call(worker: Worker, url: str = "http://localhost/", **kwargs) -> Response:
    ctx = ExecutionContext()
    response = await worker.fetch(Request(url, **kwargs), ctx)
    await ctx.drain(raise_errors=True)
    return response


HELLO = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(self.env.GREETING + " " + request.url)
"""


async def test_modern_entrypoint(tmp_path):
    worker = make(tmp_path, {"src/entry.py": HELLO})
    assert worker.name == "test-worker"
    assert worker.has_fetch and not worker.has_scheduled and not worker.legacy
    response = await call(worker, "http://localhost/x")
    assert await response.text() == "hi http://localhost/x"


async def test_workers_module_is_the_sdk(tmp_path):
    worker = make(tmp_path, {"src/entry.py": HELLO + "\nimport workers as W\n"})
    assert worker.module.W is emulator.sdk
    assert worker.module.Response is Response


async def test_fetch_without_request_param_and_sync_handler(tmp_path):
    worker = make(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response
        class Default(WorkerEntrypoint):
            def fetch(self):
                return Response("no request needed")
    """})
    assert await (await call(worker)).text() == "no request needed"


async def test_js_style_fetch_gets_env_and_ctx(tmp_path):
    worker = make(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response
        class Default(WorkerEntrypoint):
            async def fetch(self, request, env, ctx):
                assert ctx is self.ctx and env is self.env
                return Response(env["GREETING"])
    """})
    assert await (await call(worker)).text() == "hi"


async def test_wait_until_through_self_ctx(tmp_path):
    worker = make(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response
        DONE = []
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                async def later():
                    DONE.append(request.url)
                self.ctx.waitUntil(later())
                return Response("sent")
    """})
    await call(worker, "http://localhost/bg")
    assert worker.module.DONE == ["http://localhost/bg"]


async def test_legacy_handlers_and_flag_warning(tmp_path, caplog):
    source = {"src/entry.py": """
        from workers import Response, handler
        @handler
        async def on_fetch(request, env):
            return Response(await request.text() + env.GREETING)
        def on_scheduled(event, env, ctx):
            env["seen"].append(event.cron)
    """}
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        worker = make(tmp_path, source, env={"GREETING": "!", "seen": []})
        make(tmp_path, source)  # a reload does not warn again
    assert worker.legacy and worker.has_fetch and worker.has_scheduled
    assert caplog.text.count("disable_python_no_global_handlers") == 1
    response = await call(worker, method="POST", body="hey")
    assert await response.text() == "hey!"
    await worker.scheduled(ScheduledController("0 0 * * *"), ExecutionContext())
    assert worker.env["seen"] == ["0 0 * * *"]


async def test_legacy_with_flag_does_not_warn(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        worker = make(tmp_path, {"src/entry.py": """
            from workers import Response
            def on_fetch(request, env, ctx):
                return Response("legacy")
        """}, flags=["disable_python_no_global_handlers"])
    assert caplog.text == ""
    assert await (await call(worker)).text() == "legacy"


def test_both_forms_is_an_error(tmp_path):
    with pytest.raises(WorkerLoadError, match="both class Default and module-level on_fetch"):
        make(tmp_path, {"src/entry.py": HELLO + "\ndef on_fetch(request, env):\n    pass\n"})


def test_no_handler_names_the_file(tmp_path):
    with pytest.raises(WorkerLoadError) as info:
        make(tmp_path, {"src/entry.py": "x = 1\n"})
    assert "entry.py" in str(info.value) and "no handler" in str(info.value)
    assert info.value.file == tmp_path / "src" / "entry.py"


def test_default_must_subclass_worker_entrypoint(tmp_path):
    with pytest.raises(WorkerLoadError, match="WorkerEntrypoint"):
        make(tmp_path, {"src/entry.py": "class Default:\n    def fetch(self, r): pass\n"})
    with pytest.raises(WorkerLoadError, match="defines no handler"):
        make(tmp_path, {"src/entry.py": (
            "from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint):\n    pass\n"
        )})


@pytest.mark.parametrize(("returned", "hint"), [
    ("{'a': 1}", "Response.json"), ("'text'", "wrap it"), ("None", "forget to `return`"),
])
async def test_non_response_is_a_type_error_naming_the_handler(tmp_path, returned, hint):
    worker = make(tmp_path, {"src/entry.py": f"""
        from workers import WorkerEntrypoint
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return {returned}
    """})
    with pytest.raises(TypeError, match=r"Default\.fetch") as info:
        await call(worker)
    assert hint in str(info.value)


async def test_scheduled_forms(tmp_path):
    worker = make(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint
        RUNS = []
        class Default(WorkerEntrypoint):
            async def scheduled(self, controller, env, ctx):
                RUNS.append((controller.cron, controller.scheduledTime, env.GREETING))
    """})
    assert worker.has_scheduled and not worker.has_fetch
    await worker.scheduled(ScheduledController("* * * * *", 5.0), ExecutionContext())
    assert worker.module.RUNS == [("* * * * *", 5.0, "hi")]
    with pytest.raises(HandlerMissingError, match=r"fetch\(\)"):
        await call(worker)
    short = make(tmp_path / "b", {"src/entry.py": """
        from workers import WorkerEntrypoint
        RUNS = []
        class Default(WorkerEntrypoint):
            def scheduled(self, controller):
                RUNS.append(controller.cron)
    """})
    await short.scheduled(ScheduledController("1 * * * *"), ExecutionContext())
    assert short.module.RUNS == ["1 * * * *"]


HELPER_MAIN = """
from workers import WorkerEntrypoint, Response
from greet import greet

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(greet())
"""


async def test_reload_picks_up_edited_sibling_module(tmp_path):
    first = make(tmp_path, {"src/entry.py": HELPER_MAIN,
                            "src/greet.py": "def greet():\n    return 'hello'\n"})
    assert await (await call(first)).text() == "hello"
    # same size, same second: stale bytecode would be served if it were cached
    second = make(tmp_path, {"src/greet.py": "def greet():\n    return 'howdy'\n"})
    assert await (await call(second)).text() == "howdy"
    assert not list(tmp_path.rglob("__pycache__"))  # nothing written into the worker folder


async def test_syntax_error_keeps_previous_worker_usable(tmp_path):
    good = make(tmp_path, {"src/entry.py": HELPER_MAIN,
                           "src/greet.py": "def greet():\n    return 'good'\n"})
    with pytest.raises(WorkerLoadError, match=r"SyntaxError.*greet\.py, line 2") as info:
        make(tmp_path, {"src/greet.py": "def greet():\n    return 'bad\n"})
    assert isinstance(info.value.__cause__, SyntaxError)
    assert await (await call(good)).text() == "good"
    import sys
    assert sys.modules["greet"].greet() == "good"  # the last good modules are restored
    fixed = make(tmp_path, {"src/greet.py": "def greet():\n    return 'fixed'\n"})
    assert await (await call(fixed)).text() == "fixed"


def test_import_error_is_chained(tmp_path):
    with pytest.raises(WorkerLoadError, match="ModuleNotFoundError") as info:
        make(tmp_path, {"src/entry.py": "import not_a_module_anywhere\n"})
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    with pytest.raises(WorkerLoadError, match="ZeroDivisionError"):
        make(tmp_path, {"src/entry.py": "1 / 0\n"})


def test_missing_or_non_python_main(tmp_path):
    with pytest.raises(WorkerLoadError, match="not found"):
        make(tmp_path, {}, main="src/nope.py")
    with pytest.raises(WorkerLoadError, match=r"\.py"):
        make(tmp_path, {"index.js": "export default {}"}, main="index.js")


async def test_two_workers_with_same_helper_name_stay_apart(tmp_path):
    a = make(tmp_path / "a", {"src/entry.py": HELPER_MAIN,
                              "src/greet.py": "def greet():\n    return 'from a'\n"})
    b = make(tmp_path / "b", {"src/entry.py": HELPER_MAIN,
                              "src/greet.py": "def greet():\n    return 'from b'\n"})
    assert await (await call(b)).text() == "from b"
    assert await (await call(a)).text() == "from a"


def test_env_attribute_and_item_access():
    env = Env({"AI": object(), "CONFIG": {"level": {"n": 1}}, "NAME": "x"})
    assert env.AI is env["AI"]
    assert env.CONFIG.level.n == 1
    assert hasattr(env, "NAME") and not hasattr(env, "MISSING")
    with pytest.raises(AttributeError, match=r"MISSING.*defined: AI, CONFIG, NAME"):
        _ = env.MISSING
    with pytest.raises(KeyError):
        _ = env["MISSING"]


def test_js_names_edge_does_not_emulate_get_a_hint(tmp_path):
    with pytest.raises(WorkerLoadError, match=r"imports js\.WebSocketPair, which edge does not"):
        make(tmp_path, {"src/entry.py": "from js import Response, WebSocketPair\n"})


async def test_workers_env_and_wait_until_follow_the_current_worker(tmp_path):
    worker = make(tmp_path / "w", {"src/entry.py": """
        import workers
        from workers import WorkerEntrypoint, Response
        AT_IMPORT = workers.env.NAME
        done = []
        async def later():
            done.append(workers.env.NAME)
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                workers.wait_until(later())
                cf = workers.import_from_javascript("cloudflare:workers")
                return Response(AT_IMPORT + " " + cf.env.NAME)
        """}, env={"NAME": "first"})
    ctx = ExecutionContext()
    response = await worker.fetch(Request("http://localhost/"), ctx)
    await ctx.drain(raise_errors=True)
    assert await response.text() == "first first"
    assert worker.module.done == ["first"]


async def test_returning_a_read_response_is_a_type_error(tmp_path):
    worker = make(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                response = Response("x")
                await response.text()
                return response
    """})
    with pytest.raises(TypeError, match="already read"):
        await call(worker)


def test_test_modules_in_the_worker_folder_are_left_alone(tmp_path):
    import sys

    make(tmp_path, {"entry.py": HELLO, "tests/test_entry.py": "X = 1\n",
                    "test_top.py": "Y = 1\n"}, main="entry.py")
    sys.path.insert(0, str(tmp_path / "tests"))
    try:
        import test_entry
        import test_top
        make(tmp_path, {}, main="entry.py")
        assert sys.modules["test_entry"] is test_entry
        assert sys.modules["test_top"] is test_top
    finally:
        sys.path.remove(str(tmp_path / "tests"))
        sys.modules.pop("test_entry", None)
        sys.modules.pop("test_top", None)


async def test_reload_reimports_helper_packages(tmp_path):
    main = """
        from workers import WorkerEntrypoint, Response
        from lib.util import word
        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return Response(word())
    """
    first = make(tmp_path, {"src/entry.py": main, "src/lib/__init__.py": "",
                            "src/lib/util.py": "def word():\n    return 'one'\n"})
    assert await (await call(first)).text() == "one"
    second = make(tmp_path, {"src/lib/util.py": "def word():\n    return 'two'\n"})
    assert await (await call(second)).text() == "two"
    (tmp_path / "src/lib/util.py").unlink()
    with pytest.raises(WorkerLoadError, match="ModuleNotFoundError"):
        make(tmp_path, {})
    assert await (await call(second)).text() == "two"


@pytest.mark.parametrize(("date", "flags", "allowed"), [
    ("2025-10-01", [], False),
    (None, [], False),
    ("2025-08-14", [], False),
    ("2024-09-01", [], True),
    ("2024-09-01", ["python_no_global_handlers"], False),
    ("2026-01-01", ["disable_python_no_global_handlers"], True),
])
def test_legacy_handlers_allowed_follows_workerd_compat_rules(date, flags, allowed):
    config = WorkerConfig(file=Path("w.toml"), root=Path("."), name="n", main=Path("e.py"),
                          compatibility_date=date, compatibility_flags=flags)
    assert legacy_handlers_allowed(config) is allowed


def test_old_compat_date_does_not_warn(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.worker"):
        make(tmp_path, {"src/entry.py": "from workers import Response\n"
                        "def on_fetch(request):\n    return Response('x')\n"}, date="2024-01-01")
    assert caplog.text == ""
