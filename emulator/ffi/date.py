"""`js.Date`: milliseconds since the epoch, in UTC (workerd's time zone).

`Date.now()`, `Date.new()` / `Date.new(ms)` / `Date.new("2025-01-01T00:00:00Z")` /
`Date.new(y, m, d, ...)` (month from 0), the getters (`getTime`, `getFullYear`, ... local
time is UTC here, as on Cloudflare), `toISOString()` (`JSON.stringify` uses it), and
`Date.parse` / `Date.UTC`. An invalid date is `NaN`, and `toISOString()` then raises
JavaScript's `RangeError: Invalid time value`.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from emulator.ffi.values import JsException

__all__ = ["JsDate", "parse", "utc"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> int:
    return int(time.time() * 1000)


def parse(text: str) -> float:
    """Milliseconds for an ISO 8601 / RFC 2822 date string, NaN when unparsable."""
    text = str(text).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) / timedelta(milliseconds=1)


def utc(year: int, month: int = 0, day: int = 1, hours: int = 0, minutes: int = 0,
        seconds: int = 0, ms: int = 0) -> float:
    """`Date.UTC(...)`: months count from 0, overflow carries as in JavaScript."""
    years, month = divmod(int(month), 12)
    start = datetime(int(year) + years, month + 1, 1, tzinfo=UTC)
    delta = timedelta(days=int(day) - 1, hours=hours, minutes=minutes, seconds=seconds,
                      milliseconds=ms)
    return (start + delta - _EPOCH) / timedelta(milliseconds=1)


class JsDate:
    """A JavaScript `Date` (see the module docstring)."""

    __slots__ = ("_ms",)

    def __init__(self, *args: Any) -> None:
        if not args:
            self._ms: float = float(now())
        elif len(args) == 1 and isinstance(args[0], JsDate):
            self._ms = args[0]._ms
        elif len(args) == 1 and isinstance(args[0], str):
            self._ms = parse(args[0])
        elif len(args) == 1:
            self._ms = float(args[0])
        else:
            self._ms = utc(*args)

    def _datetime(self) -> datetime:
        if math.isnan(self._ms):
            raise JsException("RangeError", "Invalid time value")
        return _EPOCH + timedelta(milliseconds=self._ms)

    def getTime(self) -> float:
        return self._ms

    valueOf = getTime

    def toISOString(self) -> str:
        moment = self._datetime()
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def toJSON(self) -> str | None:
        return None if math.isnan(self._ms) else self.toISOString()

    def toUTCString(self) -> str:
        return format_datetime(self._datetime(), usegmt=True)

    def toString(self) -> str:
        if math.isnan(self._ms):
            return "Invalid Date"
        moment = self._datetime().strftime("%a %b %d %Y %H:%M:%S")
        return moment + " GMT+0000 (Coordinated Universal Time)"

    __str__ = toString

    def getFullYear(self) -> int:
        return self._datetime().year

    def getMonth(self) -> int:
        return self._datetime().month - 1

    def getDate(self) -> int:
        return self._datetime().day

    def getDay(self) -> int:
        return (self._datetime().weekday() + 1) % 7

    def getHours(self) -> int:
        return self._datetime().hour

    def getMinutes(self) -> int:
        return self._datetime().minute

    def getSeconds(self) -> int:
        return self._datetime().second

    def getMilliseconds(self) -> int:
        return self._datetime().microsecond // 1000

    def getTimezoneOffset(self) -> int:
        return 0

    getUTCFullYear = getFullYear
    getUTCMonth = getMonth
    getUTCDate = getDate
    getUTCDay = getDay
    getUTCHours = getHours
    getUTCMinutes = getMinutes
    getUTCSeconds = getSeconds
    getUTCMilliseconds = getMilliseconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsDate) and other._ms == self._ms

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Date({self.toString()!r})"
