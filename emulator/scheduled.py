"""`ScheduledController`: what a scheduled (cron) handler receives.

Mirrors the JavaScript `ScheduledController`
(https://developers.cloudflare.com/workers/runtime-apis/handlers/scheduled/): `cron`,
`scheduledTime` (milliseconds since the epoch), `noRetry()`; legacy `on_scheduled(event,
env, ctx)` handlers receive the same object as `event` (whose `type` is "scheduled").
"""

from __future__ import annotations

import time

__all__ = ["ScheduledController"]


class ScheduledController:
    """One scheduled event: which cron fired and when it was due."""

    __slots__ = ("cron", "retry", "scheduled_time")

    def __init__(self, cron: str = "", scheduled_time: float | None = None) -> None:
        if not isinstance(cron, str):
            raise TypeError(f"cron must be a str, got {type(cron).__name__}")
        self.cron = cron
        self.scheduled_time = float(time.time() * 1000 if scheduled_time is None
                                    else scheduled_time)
        self.retry = True

    @property
    def scheduledTime(self) -> float:  # the JavaScript name
        return self.scheduled_time

    @property
    def type(self) -> str:
        return "scheduled"

    def no_retry(self) -> None:
        """Ask not to retry this event if the handler fails (recorded in `retry`)."""
        self.retry = False

    noRetry = no_retry  # the JavaScript name

    def __repr__(self) -> str:
        return f"ScheduledController(cron={self.cron!r}, scheduled_time={self.scheduled_time})"
