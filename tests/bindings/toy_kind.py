"""A binding kind that exists only for tests: `[[toys]]`, registered by a test with
`monkeypatch.setitem(registry.KINDS, "toys", "tests.bindings.toy_kind")`. Every hook of
the contract records what it saw in `EVENTS`, so a test can prove edge called it."""

from __future__ import annotations

from typing import Any

from bindings.contract import BindingHost, BindingKind, BindingSpec, Field, SideApp
from emulator.sdk import Response

EVENTS: list[tuple[str, Any]] = []


class Toy:
    def __init__(self, colour: str, host: BindingHost) -> None:
        self.colour = colour
        self.host = host

    def play(self) -> str:
        return f"a {self.colour} toy"


def build(spec: BindingSpec, host: BindingHost) -> Toy:
    EVENTS.append(("build", spec.name))
    return Toy(spec.options["colour"], host)


async def startup(toy: Toy) -> None:
    EVENTS.append(("startup", toy.colour))


async def close(toy: Toy) -> None:
    EVENTS.append(("close", toy.colour))


def after_load(spec: BindingSpec, toy: Toy, worker: Any, host: BindingHost) -> None:
    EVENTS.append(("after_load", getattr(worker.module, "TOY_SHELF", None)))


def middleware(spec: BindingSpec, toy: Toy, host: BindingHost) -> Any:
    async def answer_toy_paths(request: Any, ctx: Any, call_next: Any) -> Any:
        if request.url.endswith("/toy"):
            return Response(f"{spec.name} says: {toy.play()}")
        return await call_next(request, ctx)

    return answer_toy_paths


def side_app(host: BindingHost, token: str | None) -> SideApp:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = f"toy api (token {token})".encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return SideApp("Toy API", app)


KIND = BindingKind(
    "toys",
    "Toy Box",
    fields={
        "colour": Field(required=True, pattern="red|green|blue", expected="red, green or blue"),
        "size": Field(int, "a whole number"),
    },
    value_keys=("colour",),
    build=build,
    describe=lambda toy: [f"plays as {toy.play()}"],
    startup=startup,
    close=close,
    after_load=after_load,
    middleware=middleware,
    side_app=side_app,
)
