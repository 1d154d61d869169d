"""Several backend URLs serving one model: least-in-flight choice, failover, recheck.

How a user points edge at a cluster when one GPU box is not enough: list every server
(or one router in front of them: a vLLM router, Ray Serve, KServe) in the route. A request
goes to the reachable replica with the fewest requests in flight (ties rotate, so idle
replicas share the load). A replica that refuses the connection is marked down and the
request moves on to the next one -- only before the first token: once text has reached
the caller, a retry would repeat it. A down replica is skipped while any other is up, and
becomes eligible again after a backoff (1 s, doubling to 30 s on repeated failures); the
next request sent there is the recheck (engines' `health()` rechecks every replica
actively). When every replica refuses, the error lists each URL and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bindings.ai.engines.base import Health
from bindings.ai.engines.http_errors import BackendUnavailable
from bindings.ai.errors import AiError

T = TypeVar("T")


@dataclass
class Replica:
    """One backend URL and what we know about it."""

    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive connection failures
    down_until: float = 0.0  # monotonic time before which the replica is skipped
    last_error: str | None = None

    def is_down(self, now: float) -> bool:
        return self.down_until > now


class ReplicaSet:
    """The replicas of one route; `stream(open_stream)` runs a request with failover."""

    def __init__(
        self,
        urls: tuple[str, ...] | list[str],
        *,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a route for an HTTP engine needs at least one URL")
        self.replicas = [Replica(url.rstrip("/")) for url in urls]
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._turn = 0

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def label(self) -> str:
        """`http://a` or `2 replicas: http://a, http://b (down)` for banners."""
        if len(self.replicas) == 1:
            return self.replicas[0].url
        now = self._clock()
        urls = ", ".join(r.url + (" (down)" if r.is_down(now) else "") for r in self.replicas)
        return f"{len(self.replicas)} replicas: {urls}"

    def order(self) -> list[Replica]:
        """Replicas in the order a new request should try them."""
        now = self._clock()
        up = [r for r in self.replicas if not r.is_down(now)]
        down = sorted((r for r in self.replicas if r.is_down(now)), key=lambda r: r.down_until)
        if up:
            # Rotating before the stable sort spreads ties (idle replicas) evenly.
            self._turn = (self._turn + 1) % len(up)
            up = up[self._turn :] + up[: self._turn]
            up.sort(key=lambda r: r.in_flight)
        return up + down

    def mark_down(self, replica: Replica, reason: str) -> None:
        replica.failures += 1
        replica.last_error = reason
        delay = min(self.max_backoff, self.backoff * 2 ** (replica.failures - 1))
        replica.down_until = self._clock() + delay

    def mark_up(self, replica: Replica) -> None:
        replica.failures = 0
        replica.down_until = 0.0
        replica.last_error = None

    async def stream(self, open_stream: Callable[[Replica], AsyncIterator[T]]) -> AsyncIterator[T]:
        """Yield what `open_stream(replica)` yields, failing over on `BackendUnavailable`.

        Closing this iterator closes the replica's iterator at once (and with it the
        upstream HTTP response), so the backend stops generating.
        """
        errors: list[BackendUnavailable] = []
        tried: set[int] = set()
        while True:
            # Re-ranked on every attempt: loads change while a refused connect is noticed.
            candidates = [r for r in self.order() if id(r) not in tried]
            if not candidates:
                break
            replica = candidates[0]
            tried.add(id(replica))
            started = False
            replica.in_flight += 1
            inner = open_stream(replica)
            try:
                async for item in inner:
                    started = True
                    yield item
            except BackendUnavailable as exc:
                self.mark_down(replica, exc.description)
                if started:
                    raise
                errors.append(exc)
                continue
            except AiError:
                self.mark_up(replica)  # it answered, so it is reachable
                raise
            finally:
                replica.in_flight -= 1
                await inner.aclose()  # type: ignore[attr-defined]
            self.mark_up(replica)
            return
        raise self._all_down(errors)

    async def check(self, probe: Callable[[Replica], Awaitable[str]]) -> list[Health]:
        """Run `probe` on every replica at once (the active recheck); marks each up or down.

        `probe` returns a short description of what the replica serves, or raises AiError.
        """

        async def one(replica: Replica) -> Health:
            started = time.perf_counter()
            try:
                detail = await probe(replica)
            except AiError as exc:
                self.mark_down(replica, exc.description)
                return Health(False, f"down: {exc.description}", replica.url)
            self.mark_up(replica)
            ms = (time.perf_counter() - started) * 1000
            return Health(True, f"up, {detail} ({ms:.1f} ms)", replica.url)

        return list(await asyncio.gather(*(one(r) for r in self.replicas)))

    def _all_down(self, errors: list[BackendUnavailable]) -> BackendUnavailable:
        if len(errors) == 1:
            return errors[0]
        lines = "; ".join(e.description for e in errors)
        codes = {e.code for e in errors}
        return BackendUnavailable(
            f"all {len(errors)} replicas are unreachable ({lines})",
            url=", ".join(self.urls),
            code=codes.pop() if len(codes) == 1 else 3043,
        )


def summarize(engine: str, results: list[Health]) -> Health:
    """One `Health` for a whole replica set: ok when any replica is up."""
    up = sum(h.ok for h in results)
    if len(results) == 1:
        only = results[0]
        return Health(only.ok, f"{engine} {only.url}: {only.detail}", only.url)
    lines = "; ".join(f"{h.url}: {h.detail}" for h in results)
    urls = ", ".join(h.url or "" for h in results)
    return Health(up > 0, f"{engine}, {up}/{len(results)} replicas up: {lines}", urls)
