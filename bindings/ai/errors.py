"""Workers AI errors: `"<code>: <description>"`, as Cloudflare's AI binding raises them.

On Cloudflare, `env.AI.run` rejects with an `Error` whose message starts with the
internal code (`5006: Error: oneOf at '/' not met, 0 matches: ...`), and the REST API
returns the same code and message in its `errors` array with an HTTP status. One table
here maps codes to those statuses so the binding, the REST API and the engines agree.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import EdgeError

#: code -> (HTTP status, short name). Codes and statuses as Cloudflare's AI API reports them.
CODES: dict[int, tuple[int, str]] = {
    3001: (500, "internal server error"),
    3003: (400, "bad request"),
    3006: (413, "request too large"),
    3007: (408, "timeout"),
    3010: (400, "invalid or incomplete input for the model"),
    3030: (400, "max context length exceeded"),
    3036: (429, "rate limited"),
    3040: (429, "out of capacity"),
    3043: (500, "internal server error"),
    5004: (400, "invalid data"),
    5006: (400, "input validation failed"),
    5007: (400, "no such model"),
    5016: (400, "unsupported option"),
}


#: code -> the description Cloudflare's errors page gives
#: (https://developers.cloudflare.com/workers-ai/platform/errors/), used when none is given.
DESCRIPTIONS: dict[int, str] = {
    3003: "Request is missing headers or body",
    3006: "Request is too large",
    3007: "Request timeout",
    3008: "Request was aborted",
    3036: "You have used up your daily free allocation of 10,000 neurons.",
    3040: "No more data centers to forward the request to",
    3042: "The model name is invalid",
}


class AiError(EdgeError):
    """An error from `env.AI.run`: `str(err)` is `"<code>: <description>"`.

    `code` is Cloudflare's internal code, `status` the HTTP status it maps to, and
    `description` the text after the code (what the REST API puts in `errors[].message`).
    """

    def __init__(
        self, code: int, description: str | None = None, *, status: int | None = None
    ) -> None:
        if description is None:  # AiError(3040) in tests: Cloudflare's own wording
            description = DESCRIPTIONS.get(code) or CODES.get(code, (500, "error"))[1]
        self.code = code
        self.description = description
        self.status = status if status is not None else CODES.get(code, (500, ""))[0]
        super().__init__(f"{code}: {description}")

    @property
    def message(self) -> str:
        return str(self)

    def to_envelope_error(self) -> dict[str, Any]:
        """The entry this error becomes in a REST envelope's `errors` array."""
        return {"code": self.code, "message": str(self)}


def bad_input(description: str) -> AiError:
    return AiError(5006, description)


def no_such_model(model: str) -> AiError:
    return AiError(5007, f"No such model {model} or task")


def out_of_capacity(description: str) -> AiError:
    return AiError(3040, description)


def timeout(description: str) -> AiError:
    return AiError(3007, description)


def context_exceeded(description: str) -> AiError:
    return AiError(3030, description)


def internal(description: str) -> AiError:
    return AiError(3043, description)
