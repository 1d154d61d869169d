"""OpenAI `stop` sequences, applied to generated text as it streams.

The catalogue schemas have no `stop` input (Workers AI's text-generation models take
none), so the OpenAI-compatible endpoint cuts the text itself: it holds back just enough
of the tail to see a stop sequence that spans two chunks, and never returns the stop
sequence (OpenAI's behaviour).
"""

from __future__ import annotations


class StopScanner:
    """Feed chunks in; get back the text safe to emit and whether a stop was reached."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self._hold = max((len(stop) for stop in self.stops), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return chunk
        text = self._pending + chunk
        cut = min((i for i in (text.find(stop) for stop in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._pending = ""
            return text[:cut]
        keep = min(self._hold, len(text))
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What is still held back once the generation has ended without a stop."""
        text, self._pending = self._pending, ""
        return "" if self.stopped else text
