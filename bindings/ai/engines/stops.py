"""Stop strings for streamed text: cut at the first match, even across chunk boundaries.

The one stop matcher: engines that complete text locally (llama.cpp, the scripted
engine) or whose backend leaves the stop string in its output (TGI) match
`GenerationRequest.stop` on the decoded text, as OpenAI-style servers do: the stop
string and everything after it are dropped, and only text that might be the beginning
of a stop string is held back until the next chunk decides (the least a stream can hold).
"""

from __future__ import annotations


class StopMatcher:
    """Cuts streamed text at the first stop string, holding back what might begin one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was found)."""
        if not self.stops:
            return text, False
        pending = self.pending + text
        found = [i for i in (pending.find(s) for s in self.stops) if i >= 0]
        if found:
            self.pending = ""
            return pending[: min(found)], True
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(pending)), hold, -1):
                if pending.endswith(stop[:size]):
                    hold = size
                    break
        self.pending = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold], False

    def flush(self, text: str = "") -> str:
        """The rest: `text` and what was held back, cut at a stop (a whole reply at once).
        Nothing more can follow, so nothing is held back: no prefix search."""
        pending, self.pending = self.pending + text, ""
        found = [i for i in (pending.find(s) for s in self.stops) if i >= 0]
        return pending[: min(found)] if found else pending
