"""Scripted Workers AI for tests: replies chosen per model, and a record of every call.

Cloudflare's own test pool cannot run the AI binding and its maintainers advise mocking
`env.AI` (workers-sdk issues #8278, #7434). A mock skips what makes the binding worth
testing against, so here only the *engine* is scripted: `env.AI.run` still looks the model
up (5007), validates the inputs against its catalogue schema (5006, before any script
runs), applies defaults, and answers in Cloudflare's shapes (`{"response", "usage"}`, or
SSE frames with `stream: true`, with a mid-stream error as a final error frame).

A reply is one of:

=======================  ===============================================================
`"text"`                 that text, every call (streamed as whitespace-preserving words)
`["a", "b", ...]`        one element per call, in order; a call past the end fails the test
`fn(inputs)`             called with the inputs the worker passed; returns a reply (may be
                         `async`, may raise `AiError`)
`stream([...], ...)`     exactly these chunks, one SSE frame each, optionally `delay`-ed,
                         optionally ending in `error=AiError(...)` mid-stream
`AiError(3040)`          raised from `env.AI.run` (3040 capacity, 3007 timeout, ...)
`{...}`, `b"..."`,       for tasks other than text generation: exactly this engine output
`output(value)`          (`output()` for a list, which would otherwise mean one per call)
=======================  ===============================================================

Every task is answered (`bindings.ai.tasks`): for a model whose task is not text
generation, a text reply is handed to the task's sample output (an embedding of the
right dimension, a valid PNG, ...), which carries the text where the output has text.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import fnmatch
import inspect
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bindings.ai.engines.base import (
    EVERY_TASK,
    EngineLabel,
    GenerationRequest,
    Health,
    PromptFormat,
    TaskRequest,
    Usage,
)
from bindings.ai.engines.scripted import tokenize
from bindings.ai.errors import AiError
from bindings.ai.service import AiService
from emulator.local_settings import AiSettings

__all__ = [
    "AiScript",
    "Call",
    "Output",
    "RecordingAiService",
    "ScriptError",
    "Stream",
    "output",
    "stream",
]

Reply = Any  # str | list | Callable | Stream | Output | dict | bytes | AiError

_current_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "edge_ai_call", default=None
)


class ScriptError(AssertionError):
    """The worker called `env.AI.run` in a way the test did not script."""


@dataclass(frozen=True)
class Stream:
    """A reply streamed as exactly these chunks (see `stream()`)."""

    chunks: tuple[str, ...]
    delay: float = 0.0
    error: AiError | None = None


def stream(chunks: Iterable[str], *, delay: float = 0.0, error: AiError | None = None) -> Stream:
    """A reply of chosen chunks: each becomes one `data: {"response": ...}` frame.

    `delay` seconds pass before each chunk; `error` is raised after the last chunk (a
    mid-stream failure: the SSE stream ends with an error frame, without `[DONE]`).
    """
    chunks = tuple(chunks)
    bad = [c for c in chunks if not isinstance(c, str)]
    if bad:
        raise TypeError(f"stream() chunks must be str, got {type(bad[0]).__name__}")
    if delay < 0:
        raise ValueError(f"stream() delay must be >= 0, got {delay}")
    if error is not None and not isinstance(error, AiError):
        raise TypeError(f"stream(error=...) must be an AiError, got {type(error).__name__}")
    return Stream(chunks, float(delay), error)


@dataclass(frozen=True)
class Output:
    """An engine output given as is, for tasks other than text generation (see `output()`)."""

    value: Any


def output(value: Any) -> Output:
    """A reply that is exactly this engine output (a dict, bytes, or a list such as object
    detection's), for a model whose task is not text generation."""
    return Output(value)


@dataclass
class Call:
    """One `env.AI.run(model, inputs, options)` call, as the worker made it."""

    model: str
    inputs: Any
    options: dict[str, Any] | None
    result: Any = None  # the AttrDict, or the AiStream with `stream: true`
    error: BaseException | None = None  # what run() raised (5006, a scripted 3040, ...)

    @property
    def stream(self) -> bool:
        return isinstance(self.inputs, Mapping) and bool(self.inputs.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        return self.inputs.get("messages") if isinstance(self.inputs, Mapping) else None


class AiScript:
    """Scripted replies per model (exact name, glob such as `@cf/meta/*`, or `*`).

    `AiScript({"@hf/thebloke/llama-2-13b-chat-awq": "Hi!"})`, or later
    `script.set(model, reply)` / `script[model] = reply`. `calls` records every call made
    through a worker using this script; `problems` lists calls it could not answer (the
    harness fails the test with them even when the worker swallowed the error).
    """

    name = "scripted"
    capabilities = EVERY_TASK

    def __init__(self, replies: Mapping[str, Reply] | None = None, *, default: Reply = None):
        self._replies: dict[str, Reply] = {}
        self._queues: dict[str, list[Reply]] = {}
        self.calls: list[Call] = []
        self.problems: list[ScriptError] = []
        for model, reply in (replies or {}).items():
            self.set(model, reply)
        if default is not None:
            self.set("*", default)

    # --- scripting ---------------------------------------------------------------------

    def set(self, model: str, reply: Reply) -> AiScript:
        """Answer calls to `model` (a name, glob or `*`) with `reply`; replaces earlier ones."""
        _check_reply(reply, model)
        self._replies[model] = reply
        self._queues[model] = list(reply) if isinstance(reply, list | tuple) else []
        return self

    __setitem__ = set

    def calls_for(self, model: str) -> list[Call]:
        return [c for c in self.calls if c.model == model]

    @property
    def last_call(self) -> Call:
        if not self.calls:
            raise ScriptError("env.AI.run was never called")
        return self.calls[-1]

    # --- the engine contract (bindings.ai.engines.base.Engine) ---------------------------

    def describe(self, model: str) -> EngineLabel:
        return EngineLabel("scripted", detail="by the test (emulator.testing.AiScript)")

    def prompt_format(self, model: str) -> PromptFormat | None:
        return None  # the catalogue's template, as a real Llama-2 route would use

    async def health(self) -> Health:
        return Health(ok=True, detail="scripted by the test")

    async def close(self) -> None:
        pass

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        call = _current_call.get()
        inputs = call.inputs if call is not None else _inputs_of(request)
        reply = await self._resolve(self._reply_for(request.model), request.model, inputs)
        if isinstance(reply, Output):
            raise self._fail(
                f"the scripted reply for {request.model!r} is an engine output; text "
                "generation models take text or stream([...]) replies"
            )
        if isinstance(reply, Stream):
            chunks, delay, error = list(reply.chunks), reply.delay, reply.error
        else:
            chunks, delay, error = tokenize(reply), 0.0, None
        for chunk in chunks:
            if delay:
                await asyncio.sleep(delay)
            yield chunk
        if error is not None:
            raise error
        yield Usage(prompt_tokens=len(tokenize(request.prompt)), completion_tokens=len(chunks))

    async def infer(self, request: TaskRequest) -> Any:
        """Any task but text generation: `output(...)` replies as they are, text ones
        through the task's sample output."""
        from bindings.ai.tasks import for_capability

        call = _current_call.get()
        inputs = call.inputs if call is not None else dict(request.inputs)
        reply = await self._resolve(self._reply_for(request.model), request.model, inputs)
        if isinstance(reply, Output):
            return reply.value
        if isinstance(reply, Stream):
            raise self._fail(
                f"the scripted reply for {request.model!r} is a stream; stream([...]) "
                "replies are for text generation models"
            )
        task = for_capability(request.capability)
        if task is None:
            raise self._fail(f"no task needs capability {request.capability!r}")
        return task.sample(request, reply)

    # --- helpers -----------------------------------------------------------------------

    def _fail(self, message: str) -> ScriptError:
        problem = ScriptError(message)
        self.problems.append(problem)
        return problem

    def _reply_for(self, model: str) -> tuple[str, Reply]:
        if model in self._replies:
            return model, self._replies[model]
        for pattern, reply in self._replies.items():
            if pattern != "*" and fnmatch.fnmatchcase(model, pattern):
                return pattern, reply
        if "*" in self._replies:
            return "*", self._replies["*"]
        raise self._fail(
            f"env.AI.run({model!r}, ...) has no scripted reply; script one with "
            f"ai_script.set({model!r}, 'text') (or '*' for every model)"
        )

    async def _resolve(
        self, found: tuple[str, Reply], model: str, inputs: Any
    ) -> str | Stream | Output:
        key, reply = found
        for _ in range(10):  # a function may return a function; never loop forever
            if isinstance(reply, list | tuple):
                queue = self._queues[key]
                if not queue:
                    count = len(self._replies[key])
                    raise self._fail(
                        f"env.AI.run({model!r}, ...) was called more often than the "
                        f"{count} scripted replies for {key!r}"
                    )
                reply = queue.pop(0)
                continue
            if isinstance(reply, AiError):
                raise reply
            if isinstance(reply, str | Stream | Output):
                return reply
            if isinstance(reply, dict | bytes | bytearray):
                return Output(reply)
            if callable(reply):
                reply = reply(_snapshot(inputs))
                if inspect.isawaitable(reply):
                    reply = await reply
                _check_reply(reply, model)
                continue
            break
        raise self._fail(f"the scripted reply for {model!r} gave {type(reply).__name__}")


def _check_reply(reply: Reply, model: str) -> None:
    if isinstance(reply, str | Stream | Output | AiError | dict | bytes | bytearray):
        return
    if callable(reply):
        return
    if isinstance(reply, list | tuple):
        if not reply:
            raise ValueError(f"the reply list for {model!r} is empty")
        for item in reply:
            _check_reply(item, model)
        return
    raise TypeError(
        f"a scripted reply for {model!r} must be a str, a list of replies, a function of "
        f"the inputs, stream([...]), output(...) or an AiError; got {type(reply).__name__}"
    )


def _inputs_of(request: GenerationRequest) -> dict[str, Any]:
    # Reached only when the script serves a service other than RecordingAiService.
    if request.messages is not None:
        return {"messages": request.messages}
    return {"prompt": request.prompt}


class RecordingAiService(AiService):
    """An `AiService` that records every `run()` into `calls` (the script's, when given)."""

    def __init__(self, *args: Any, calls: list[Call] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Call] = calls if calls is not None else []
        self.keep_open: list[Any] = []  # engines shared beyond this service (not closed)

    @classmethod
    def for_tests(cls, settings: AiSettings | None = None) -> RecordingAiService:
        """Like `AiService.from_settings`, with the catalogue parsed once per process (not
        once per test). The harness loads settings without `EDGE_AI_ROUTES`: tests must
        not depend on the shell."""
        settings = settings or AiSettings()
        return cls(_catalogue(settings.catalogue), settings.route_table())

    @classmethod
    def for_script(cls, script: AiScript, settings: AiSettings | None = None) -> Any:
        service = cls.for_tests(settings)
        service.calls = script.calls
        service.set_engine("*", script)
        return service

    async def close(self) -> None:
        keep = {id(engine) for engine in self.keep_open}
        self._engines = {k: e for k, e in self._engines.items() if id(e) not in keep}
        await super().close()

    async def run(
        self, model: str, inputs: Any, options: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        call = Call(model, _snapshot(inputs), _snapshot(options))
        self.calls.append(call)
        token = _current_call.set(call)
        try:
            call.result = await super().run(model, inputs, options, **kwargs)
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            _current_call.reset(token)
        return call.result


_catalogues: dict[tuple, Any] = {}


def _catalogue(extra: tuple[Path, ...]) -> Any:
    """The catalogue for these extra folders, cached while their files are unchanged."""
    from bindings.ai.catalogue import load_catalogue

    key = (extra, tuple(_stamp(location) for location in extra))
    catalogue = _catalogues.get(key)
    if catalogue is None:
        catalogue = _catalogues[key] = load_catalogue(extra)
    return catalogue


def _stamp(location: Path) -> tuple:
    files = sorted(location.glob("*.md")) if location.is_dir() else [location]
    return tuple((str(f), f.stat().st_mtime_ns) for f in files if f.exists())


_ATOMS = (str, int, float, bool, type(None))


def _snapshot(value: Any) -> Any:
    """A copy the worker cannot mutate afterwards; JSON-like values without deepcopy's
    bookkeeping (this runs on every call, a measurable share of a scripted run)."""
    kind = type(value)
    if kind is dict:
        return {key: _snapshot(item) for key, item in value.items()}
    if kind is list:
        return [_snapshot(item) for item in value]
    if kind in _ATOMS:
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # not copyable: record it as is
        return value
