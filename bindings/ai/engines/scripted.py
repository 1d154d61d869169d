"""The scripted engine: deterministic replies for tests and demos, never a silent fallback.

Selected only by a route (`--ai-route '*=scripted:echo'`, `EDGE_AI_ROUTES`, `edge.toml`)
or built directly in tests (`ScriptedEngine(replies=[...], delay=0.01)`). What it says:

=====================  =================================================================
route args             reply
=====================  =================================================================
`echo` (the default)   the last user message, or the whole prompt when there is none
`text=Hello there`     that fixed text, every time
`reply=A,reply=B`      `A`, then `B`, then `A` again ... (cycled, one per request)
`delay=0.05`           seconds slept before each token (to watch streams arrive)
`fail_after=3`         raises `AiError` 3043 after 3 tokens (to test mid-stream errors;
                       other tasks than text generation fail at once)
=====================  =================================================================

Any task: text generation streams the reply as below; other tasks (`infer`) answer
with their task's correctly shaped sample output (`bindings.ai.tasks`), carrying the
fixed or cycled text where the output has text, after `delay`.

Tokens are whitespace-preserving words: each token is a word with the whitespace before
it (`"Hi  there\\n"` -> `"Hi"`, `"  there"`, `"\\n"`), so the tokens always join back to
the exact text. Usage counts those tokens (prompt and completion); `max_tokens` cuts the
reply after that many tokens, and `stop` strings cut it before the first one found.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterable
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
from bindings.ai.engines.options import Option
from bindings.ai.engines.stops import StopMatcher
from bindings.ai.errors import AiError
from bindings.ai.routing import Route

CAPABILITIES = EVERY_TASK
_TOKEN = re.compile(r"\s*\S+|\s+")
_KEEP_REQUESTS = 1000


def tokenize(text: str) -> list[str]:
    """Split text into whitespace-preserving word tokens; `"".join(tokenize(t)) == t`."""
    return _TOKEN.findall(text)


class ScriptedEngine:
    """Replies from a script instead of a model (see the module docstring).

    `replies` (cycled) wins over `text`, which wins over echo. `per_model` maps catalogue
    names to a fixed text for that model alone. The latest requests received (up to
    1000) are kept in `requests`, so tests can check exactly what reached the engine.
    """

    name = "scripted"
    capabilities = CAPABILITIES
    #: it takes the messages as they are, as a chat endpoint would (no template needed).
    applies_chat_template = True

    def __init__(
        self,
        replies: Iterable[str] | None = None,
        *,
        text: str | None = None,
        per_model: dict[str, str] | None = None,
        delay: float = 0.0,
        fail_after: int | None = None,
    ) -> None:
        self.replies = list(replies) if replies is not None else None
        if self.replies is not None and not self.replies:
            raise ValueError("ScriptedEngine(replies=[]) needs at least one reply")
        if delay < 0:
            raise ValueError(f"ScriptedEngine delay must be >= 0, got {delay}")
        self.text = text
        self.per_model = dict(per_model or {})
        self.delay = float(delay)
        self.fail_after = fail_after
        self.requests: list[GenerationRequest | TaskRequest] = []
        #: generations running now, and tokens produced so far (what a caller that left
        #: must stop: tests check both are still after a client disconnects)
        self.active = 0
        self.tokens_generated = 0
        self._cycle = itertools.cycle(self.replies) if self.replies else None
        self.closed = False

    @property
    def mode(self) -> str:
        if self.replies is not None:
            return f"{len(self.replies)} replies, cycled"
        if self.text is not None:
            return "fixed text"
        return "echo"

    def describe(self, model: str) -> EngineLabel:
        if model in self.per_model:
            return EngineLabel("scripted", detail="fixed text")
        extra = f", {self.delay:g}s per token" if self.delay else ""
        return EngineLabel("scripted", detail=f"{self.mode}{extra}")

    def prompt_format(self, model: str) -> PromptFormat | None:
        # Not a model: the catalogue's template is what a real one would get, or (without
        # one) the messages as they are, as a real backend's chat endpoint would.
        return None

    def reply_for(self, request: GenerationRequest) -> str:
        """The full reply this request gets (before `max_tokens` and `stop` cut it)."""
        text = self._scripted_text(request.model)
        return text if text is not None else (_last_user_message(request) or request.prompt)

    def _scripted_text(self, model: str) -> str | None:
        if model in self.per_model:
            return self.per_model[model]
        if self._cycle is not None:
            return next(self._cycle)
        return self.text

    def _record(self, request: GenerationRequest | TaskRequest) -> None:
        self.requests.append(request)
        if len(self.requests) > _KEEP_REQUESTS:  # a long dev session must not grow forever
            del self.requests[: -_KEEP_REQUESTS // 2]

    async def infer(self, request: TaskRequest) -> Any:
        """Any task but text generation: the task's sample output (module docstring)."""
        from bindings.ai.tasks import for_capability

        self._record(request)
        task = for_capability(request.capability)
        if task is None:
            raise AiError(5007, f"scripted engine: no task needs capability {request.capability}")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_after is not None:
            raise AiError(3043, f"scripted failure (fail_after={self.fail_after})")
        return task.sample(request, self._scripted_text(request.model))

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        self._record(request)
        reply = StopMatcher(request.stop).flush(self.reply_for(request))
        tokens = tokenize(reply)[: max(request.max_tokens, 0)]
        self.active += 1
        try:
            for count, token in enumerate(tokens):
                if self.fail_after is not None and count >= self.fail_after:
                    raise AiError(3043, f"scripted failure after {count} tokens")
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.tokens_generated += 1
                yield token
        finally:
            self.active -= 1
        prompt = request.prompt or "\n".join(
            str(m.get("content") or "") for m in request.messages or ()
        )
        yield Usage(prompt_tokens=len(tokenize(prompt)), completion_tokens=len(tokens))

    async def health(self) -> Health:
        return Health(ok=True, detail=f"scripted ({self.mode})")

    async def close(self) -> None:
        self.closed = True


OPTIONS = {
    "echo": Option("bool", "reply with the last user message (the default)"),
    "text": Option("str", "this fixed reply"),
    "reply": Option("str", "replies cycled one per request", repeat=True),
    "replies": Option("str", "as reply", repeat=True),
    "delay": Option("float", "seconds before each token", minimum=0),
    "fail_after": Option("int", "fail with 3043 after this many tokens", minimum=0),
}


def create(route: Route) -> ScriptedEngine:
    """Build from route options (checked and converted by routing, see `OPTIONS`)."""
    options: dict[str, Any] = route.options
    replies = options.get("reply", options.get("replies"))
    return ScriptedEngine(
        replies,
        text=options.get("text"),
        delay=options.get("delay", 0.0),
        fail_after=options.get("fail_after"),
    )


def _last_user_message(request: GenerationRequest) -> str | None:
    for message in reversed(request.messages or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None
