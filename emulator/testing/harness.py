"""`load_worker()`: a worker running in-process for tests -- no server, no port.

The worker is loaded exactly as `edge dev` loads it (`emulator.config.load_config`,
`emulator.loader.load`) and each `fetch` goes through `edge dev`'s own ASGI app
(`emulator.app`), driven in-process (`emulator.testing.driver`): the request becomes
the same ASGI scope a server would build, and the response is what the app sends
(status, headers, a body streamed chunk by chunk). So a worker behaves the same here
and under `edge dev`; what differs is made for tests, through the app's hooks:

- an uncaught exception in the worker is raised in the test itself (its traceback
  starts at the worker's code), instead of becoming the 500 error page
  (`raise_errors=False` gives the page, as `edge dev` would);
- `ctx.wait_until` work is awaited before `fetch` returns (or, for a streamed body,
  when the body has been read) and its exceptions are raised; with
  `wait_until="defer"` it keeps running until `await worker.drain()`;
- `env.AI` answers from an `AiScript` (see `emulator.testing.ai_script`) unless told to
  use a real engine (`ai="llama"`, the embedded llama.cpp model);
- state (KV, D1, R2) lives in a fresh folder, deleted on `close()`, unless
  `persist_to` is given.

Like Miniflare's `dispatchFetch` and `scheduled()` (workers-sdk `packages/miniflare`),
and Cloudflare's `vitest-pool-workers` `SELF.fetch`, minus the remote AI binding.
"""

from __future__ import annotations

import json as jsonlib
import shutil
import tempfile
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from bindings.contract import BindingHost
from emulator import errorpage, loader
from emulator.app import EdgeApp
from emulator.config import load_config
from emulator.context import ExecutionContext
from emulator.local_settings import AiSettings
from emulator.sdk import Headers, Request
from emulator.testing import driver
from emulator.testing.ai_script import AiScript, Call, RecordingAiService, ScriptError
from emulator.testing.response import TestResponse

__all__ = ["ScheduledResult", "TestWorker", "load_worker"]

WaitUntil = Literal["await", "defer"]
_MISSING: Any = object()
_llama_engine: Any = None  # one embedded model per process, shared by every test worker


@dataclass(frozen=True)
class ScheduledResult:
    """The outcome of a cron run (Miniflare's `{outcome, noRetry}`)."""

    outcome: str
    no_retry: bool

    @property
    def noRetry(self) -> bool:  # the JavaScript name
        return self.no_retry


class TestWorker:
    """A loaded worker; see the module docstring. Use `async with` or `await close()`."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        worker: Any,
        host: BindingHost,
        *,
        ai_service: RecordingAiService | None,
        ai_script: AiScript | None,
        wait_until: WaitUntil = "await",
        raise_errors: bool = True,
        base_url: str = "http://localhost",
        cleanup: Path | None = None,
    ) -> None:
        if wait_until not in ("await", "defer"):
            raise ValueError(f"wait_until must be 'await' or 'defer', got {wait_until!r}")
        self.worker = worker
        self.host = host
        self.ai_service = ai_service
        self.ai_script = ai_script
        self.wait_until = wait_until
        self.raise_errors = raise_errors
        self.base_url = base_url.rstrip("/")
        self._deferred: list[ExecutionContext] = []
        self._cleanup = cleanup
        self._closed = False
        self._open: dict[int, TestResponse] = {}  # streamed responses not read to the end
        self.app = EdgeApp(
            lambda: self.worker, raise_errors=raise_errors, drain=self._drain,
            report_error=_shown_by_the_test,
        )  # fmt: skip

    # --- what tests look at --------------------------------------------------------

    @property
    def env(self) -> Any:
        """The worker's `env` (vars, secrets, bindings), e.g. to seed KV before a fetch."""
        return self.worker.env

    @property
    def config(self) -> Any:
        return self.worker.config

    @property
    def state_dir(self) -> Path:
        return self.host.state_dir

    @property
    def ai_calls(self) -> list[Call]:
        """Every `env.AI.run` call the worker made (model, inputs, options, result, error)."""
        return self.ai_service.calls if self.ai_service is not None else []

    @property
    def pending(self) -> int:
        """How many deferred `wait_until` awaitables have not finished yet."""
        return sum(ctx.pending for ctx in self._deferred)

    # --- events --------------------------------------------------------------------

    async def fetch(
        self,
        target: str | Request = "/",
        *,
        method: str | None = None,
        headers: Any = None,
        json: Any = _MISSING,
        body: Any = None,
        cf: Mapping[str, Any] | None = None,
    ) -> TestResponse:
        """Send one request to the worker's fetch handler: `target` is a path (`"/x?y=1"`),
        an absolute URL or a `workers.Request`; `json=` sends a JSON body."""
        __tracebackhide__ = True
        request = self._request(target, method, headers, json, body, cf)
        scope, content = _scope(request)
        problems = self._problem_count()
        try:
            exchange = await driver.start(self.app, scope, content)
        except Exception as exc:  # the worker's (raise_errors) or its wait_until work's
            self._raise_script_problem(problems, exc)
            errorpage.trim_internal(exc)
            raise
        if exchange.complete:  # a body sent whole: the request is over
            self._raise_script_problem(problems)
            return TestResponse(exchange, url=request.url)
        response = TestResponse(
            exchange, url=request.url, on_done=lambda: self._done(response, problems)
        )
        self._open[id(response)] = response
        return response

    async def scheduled(
        self, cron: str = "", *, scheduled_time: float | None = None
    ) -> ScheduledResult:
        """Run the scheduled handler once, as a cron trigger would; `scheduled_time` is in
        milliseconds since the epoch (default: now). Returns the outcome; worker errors raise."""
        __tracebackhide__ = True
        problems = self._problem_count()
        try:
            controller = await self.app.run_scheduled(cron, scheduled_time)
        except Exception as exc:
            self._raise_script_problem(problems, exc)
            errorpage.trim_internal(exc)
            raise
        self._raise_script_problem(problems)
        return ScheduledResult("ok", not controller.retry)

    async def drain(self) -> None:
        """Await all deferred `wait_until` work; raises the first failure (the others are
        chained as an ExceptionGroup when there are several)."""
        __tracebackhide__ = True
        contexts, self._deferred = self._deferred, []
        errors: list[BaseException] = []
        for ctx in contexts:
            try:
                await ctx.drain(raise_errors=True)
            except Exception as exc:
                errors.append(errorpage.trim_internal(exc))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("several wait_until tasks failed", errors)

    async def close(self) -> None:
        """Finish deferred work (raising its failures), close bindings, delete temp state."""
        __tracebackhide__ = True
        if self._closed:
            return
        self._closed = True
        try:
            for response in list(self._open.values()):  # bodies nobody read to the end
                await response.aclose()
            await self.drain()
        finally:
            await loader.retire(self.worker.bound)
            await self.host.close()
            if self._cleanup is not None:
                shutil.rmtree(self._cleanup, ignore_errors=True)

    async def __aenter__(self) -> TestWorker:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        __tracebackhide__ = True
        await self.close()

    # --- helpers -------------------------------------------------------------------

    def _request(
        self, target: Any, method: str | None, headers: Any, json: Any, body: Any, cf: Any
    ) -> Request:
        if json is not _MISSING:
            if body is not None:
                raise TypeError("fetch() takes json= or body=, not both")
            body = jsonlib.dumps(json).encode()
        elif isinstance(body, dict | list):
            raise TypeError("fetch(body=...) takes str or bytes; to send JSON use json=...")
        if isinstance(target, Request):
            if method is None and headers is None and body is None:
                return target
            request = Request(target, method=method, headers=headers, body=body)
            if json is not _MISSING and not request.headers.has("content-type"):
                request.headers.set("content-type", "application/json")
            return request
        if not isinstance(target, str):
            raise TypeError(
                f"fetch() takes a path, a URL or a workers.Request, got {type(target).__name__}"
            )
        url = target if "://" in target else self.base_url + "/" + target.lstrip("/")
        if method is None:
            method = "GET" if body is None else "POST"
        given = Headers(headers)
        if json is not _MISSING and not given.has("content-type"):
            given.set("content-type", "application/json")
        return Request(url, method=method, headers=given, body=body, cf=dict(cf) if cf else None)

    async def _drain(self, ctx: ExecutionContext, raise_errors: bool) -> None:
        """The app's `drain` hook: a test sees `wait_until` failures (or defers them)."""
        __tracebackhide__ = True
        if self.wait_until == "defer":
            if ctx.pending:
                self._deferred.append(ctx)
            return
        try:
            await ctx.drain(raise_errors=True)
        except Exception as exc:
            errorpage.trim_internal(exc)
            raise

    def _done(self, response: TestResponse, problems: int) -> None:
        __tracebackhide__ = True
        self._open.pop(id(response), None)
        self._raise_script_problem(problems)

    def _problem_count(self) -> int:
        return len(self.ai_script.problems) if self.ai_script is not None else 0

    def _raise_script_problem(self, before: int, cause: BaseException | None = None) -> None:
        # A call the script cannot answer fails the test even if the worker caught the error.
        __tracebackhide__ = True
        if self.ai_script is not None and len(self.ai_script.problems) > before:
            problem = self.ai_script.problems[before]
            raise ScriptError(str(problem)) from cause

    def __repr__(self) -> str:
        return f"<TestWorker {self.worker!r}>"


def _scope(request: Request) -> tuple[dict[str, Any], bytes | AsyncIterable[bytes] | None]:
    """The ASGI scope an HTTP server builds for `request`, and the body to send: the
    headers a client adds (host, content-length or chunked) are added when missing."""
    parts = urlsplit(request.url)
    headers = request.headers.raw()
    names = {name for name, _ in headers}
    if b"host" not in names:
        headers.append((b"host", parts.netloc.encode("idna")))
    fixed = request.fixed_body
    content: bytes | AsyncIterable[bytes] | None = fixed or None
    if fixed is None:
        content = request.body
        if b"content-length" not in names and b"transfer-encoding" not in names:
            headers.append((b"transfer-encoding", b"chunked"))
    elif fixed and b"content-length" not in names:
        headers.append((b"content-length", str(len(fixed)).encode()))
    default_port = 443 if parts.scheme == "https" else 80
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": parts.scheme,
        "path": unquote(parts.path) or "/",
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": headers,
        "server": (parts.hostname or "localhost", parts.port or default_port),
        "client": ("127.0.0.1", 50000),
    }
    cf = request.cf
    if cf:
        scope["extensions"] = {"edge.cf": cf}
    return scope, content


def _shown_by_the_test(exc: BaseException, method: str, url: str) -> None:
    """With `raise_errors=False` the error page carries the exception: nothing to log."""


def _ai_routes(ai: Any) -> list[str]:
    """The route specs of `load_worker(ai="*=scripted:echo" or [...])`, else none."""
    if ai == "llama" or not isinstance(ai, str | list | tuple):
        return []
    routes = [ai] if isinstance(ai, str) else list(ai)
    if not all(isinstance(r, str) and "=" in r for r in routes):
        raise ValueError(
            f"ai={ai!r}: expected 'llama', a route spec such as '*=scripted:echo', "
            "an AiScript, a dict of replies per model, or an engine object"
        )
    return routes


def _ai_service(ai: Any, settings: AiSettings) -> tuple[RecordingAiService, AiScript | None]:
    """The AI service for `load_worker(ai=...)`; see its docstring."""
    if ai is None or isinstance(ai, Mapping):
        ai = AiScript(ai)
    if isinstance(ai, AiScript):
        return RecordingAiService.for_script(ai, settings), ai
    if ai == "llama":
        service = RecordingAiService.for_tests(settings)
        engine = _shared_llama()
        service.set_engine("*", engine)
        service.keep_open.append(engine)  # loaded once per process, not per test
        return service, None
    if isinstance(ai, str | list | tuple):  # route specs: already in the settings
        return RecordingAiService.for_tests(settings), None
    if callable(getattr(ai, "generate", None)):
        service = RecordingAiService.for_tests(settings)
        service.set_engine("*", ai)
        return service, None
    raise TypeError(
        f"ai= takes None (scripted replies), an AiScript, a dict of replies, 'llama', a "
        f"route spec or an engine object; got {type(ai).__name__}"
    )


def _shared_llama() -> Any:
    global _llama_engine
    if _llama_engine is None:
        from bindings.ai.engines.llamacpp import LlamaCppEngine

        _llama_engine = LlamaCppEngine()
    return _llama_engine


def load_worker(
    path: str | Path | None = None,
    *,
    config_file: str | Path | None = None,
    env: str | None = None,
    vars: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    bindings: Mapping[str, Any] | None = None,
    ai: Any = None,
    persist_to: str | Path | None = None,
    wait_until: WaitUntil = "await",
    raise_errors: bool = True,
    base_url: str = "http://localhost",
) -> TestWorker:
    """Load the worker at `path` (its folder, wrangler file or `.py` entry; default the
    current folder) for in-process tests.

    `env` picks a `[env.<name>]` section like `edge dev --env`; `vars` and `secrets`
    override `[vars]` and `.dev.vars`; `bindings` adds or replaces `env` entries (your own
    fakes). `ai` is what answers `env.AI.run`: None (an empty `AiScript`: unscripted calls
    fail the test), an `AiScript` or a dict `{model: reply}`, `"llama"` (the embedded
    llama.cpp model, shared per process), route specs like `"*=scripted:echo"`, or an
    engine object. State goes to `persist_to`, else to a temporary folder.
    Raises `ConfigError` / `WorkerLoadError` as `edge dev` would.
    """
    config = load_config(path, config_file=config_file, env=env)
    config.vars.update(vars or {})
    config.secrets.update(secrets or {})
    has_ai = any(spec.kind == "ai" for spec in config.bindings)
    if not has_ai and ai is not None and not isinstance(ai, AiScript):  # (the plugin passes one)
        raise ValueError(
            f"load_worker(ai=...) was given, but {config.file.name} has no AI binding; "
            'add [ai] binding = "AI" to it'
        )
    cleanup = None
    if persist_to is None:
        cleanup = Path(tempfile.mkdtemp(prefix="edge-test-state-"))
        state_dir = cleanup
    else:
        state_dir = Path(persist_to).resolve()
    service = script = None
    try:
        host = loader.host_for(config, state_dir, ai_routes=_ai_routes(ai), environ={})
        if has_ai:
            service, script = _ai_service(ai, host.settings.ai)
            host.shared("ai", lambda: service)  # what bindings.ai.binding.build picks up
        worker = loader.load(config, host, extra=bindings)
    except BaseException:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    return TestWorker(
        worker,
        host,
        ai_service=service,
        ai_script=script,
        wait_until=wait_until,
        raise_errors=raise_errors,
        base_url=base_url,
        cleanup=cleanup,
    )
