"""Replica choice, failover before the first token, backoff and recheck."""

from __future__ import annotations

import asyncio

import pytest

from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.http_errors import BackendUnavailable
from bindings.ai.engines.replicas import Replica, ReplicaSet
from bindings.ai.engines.vllm import create
from bindings.ai.errors import AiError
from bindings.ai.routing import Route
from tests.fakes.fake_vllm import FakeVllm
from tests.fakes.loopback import free_port, serve


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def script(behaviour: dict[str, str]):
    """open_stream for a ReplicaSet: per URL, 'ok', 'refuse', or 'refuse-after-token'."""
    calls: list[str] = []

    async def open_stream(replica: Replica):
        calls.append(replica.url)
        mode = behaviour[replica.url]
        if mode == "refuse":
            raise BackendUnavailable(f"{replica.url} refused", url=replica.url)
        yield f"token from {replica.url}"
        if mode == "refuse-after-token":
            raise BackendUnavailable(f"{replica.url} went away", url=replica.url)
        yield "end"

    return open_stream, calls


async def drain(stream) -> list[str]:
    return [item async for item in stream]


def test_least_in_flight_first_and_ties_rotate():
    replicas = ReplicaSet(["http://a", "http://b", "http://c"])
    a, b, c = replicas.replicas
    a.in_flight, b.in_flight, c.in_flight = 2, 0, 1
    assert [r.url for r in replicas.order()] == ["http://b", "http://c", "http://a"]
    a.in_flight = b.in_flight = c.in_flight = 0
    firsts = {replicas.order()[0].url for _ in range(3)}
    assert firsts == {"http://a", "http://b", "http://c"}


def test_down_replicas_go_last_and_come_back_after_an_exponential_backoff():
    clock = Clock()
    replicas = ReplicaSet(["http://a", "http://b"], backoff=1.0, max_backoff=3.0, clock=clock)
    a = replicas.replicas[0]
    replicas.mark_down(a, "refused")
    assert [r.url for r in replicas.order()][-1] == "http://a"
    clock.now += 1.01
    assert not a.is_down(clock.now)
    replicas.mark_down(a, "refused")  # second failure: 2 s
    clock.now += 1.5
    assert a.is_down(clock.now)
    replicas.mark_down(a, "refused")
    replicas.mark_down(a, "refused")  # capped at max_backoff
    assert a.down_until - clock.now == pytest.approx(3.0)
    replicas.mark_up(a)
    assert not a.is_down(clock.now) and a.failures == 0


def test_a_route_needs_urls():
    with pytest.raises(ValueError):
        ReplicaSet([])


async def test_refused_replica_is_skipped_and_marked_down():
    replicas = ReplicaSet(["http://a", "http://b"])
    open_stream, calls = script({"http://a": "refuse", "http://b": "ok"})
    replicas.replicas[1].in_flight = 1  # so a is tried first
    out = await drain(replicas.stream(open_stream))
    replicas.replicas[1].in_flight = 0
    assert out == ["token from http://b", "end"]
    assert calls == ["http://a", "http://b"]
    a, b = replicas.replicas
    assert a.is_down(replicas._clock()) and a.last_error == "http://a refused"
    assert not b.is_down(replicas._clock())
    calls.clear()
    await drain(replicas.stream(open_stream))
    assert calls == ["http://b"]  # a is skipped while down


async def test_no_retry_once_a_token_was_relayed():
    replicas = ReplicaSet(["http://a", "http://b"])
    open_stream, calls = script({"http://a": "refuse-after-token", "http://b": "ok"})
    replicas.replicas[1].in_flight = 1
    seen = []
    with pytest.raises(BackendUnavailable):
        async for item in replicas.stream(open_stream):
            seen.append(item)
    assert seen == ["token from http://a"] and calls == ["http://a"]


async def test_all_down_lists_every_url():
    replicas = ReplicaSet(["http://a", "http://b"])
    open_stream, _ = script({"http://a": "refuse", "http://b": "refuse"})
    with pytest.raises(BackendUnavailable) as info:
        await drain(replicas.stream(open_stream))
    assert "all 2 replicas are unreachable" in str(info.value)
    assert "http://a refused" in str(info.value) and "http://b refused" in str(info.value)
    assert info.value.code == 3043


async def test_in_flight_is_released_when_the_caller_closes_early():
    replicas = ReplicaSet(["http://a"])
    open_stream, _ = script({"http://a": "ok"})
    stream = replicas.stream(open_stream)
    await anext(stream)
    assert replicas.replicas[0].in_flight == 1
    await stream.aclose()
    assert replicas.replicas[0].in_flight == 0


async def test_other_errors_are_not_retried_and_mark_the_replica_up():
    replicas = ReplicaSet(["http://a", "http://b"])
    replicas.mark_down(replicas.replicas[0], "old failure")
    replicas.replicas[0].down_until = 0  # backoff over: eligible again
    calls = []

    async def open_stream(replica):
        calls.append(replica.url)
        raise AiError(3010, "bad request")
        yield  # pragma: no cover

    replicas.replicas[1].in_flight = 1
    with pytest.raises(AiError):
        await drain(replicas.stream(open_stream))
    assert calls == ["http://a"] and replicas.replicas[0].failures == 0


# Through the vLLM engine, with real servers on loopback.


def request() -> GenerationRequest:
    return GenerationRequest(model="m", prompt="hello there", stream=True)


async def run(engine) -> str:
    return "".join([x async for x in engine.generate(request()) if not isinstance(x, Usage)])


async def test_concurrent_requests_spread_over_replicas_and_skip_a_dead_one():
    fakes = [FakeVllm(model="m", token_delay=0.02) for _ in range(2)]
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(fakes[0].app()) as one, serve(fakes[1].app()) as two:
        engine = create(Route("m", "vllm", urls=(dead, one.url, two.url), served_model="m"))
        replies = await asyncio.gather(*(run(engine) for _ in range(6)))
        replies += [await run(engine) for _ in range(4)]
        dead_replica = engine.replicas.replicas[0]
        await engine.close()
    assert replies == [fakes[0].reply] * 10
    assert len(fakes[0].requests) + len(fakes[1].requests) == 10
    assert abs(len(fakes[0].requests) - len(fakes[1].requests)) <= 2
    # refused by the first request that tried it, then skipped while down
    assert dead_replica.failures >= 1 and dead_replica.is_down(engine.replicas._clock())
    assert "refused" in dead_replica.last_error or "not reachable" in dead_replica.last_error


async def test_a_replica_that_comes_back_is_used_again_after_the_backoff():
    port = free_port()
    late = FakeVllm(model="m")
    with serve(FakeVllm(model="m").app()) as first:
        engine = create(
            Route(
                "m",
                "vllm",
                urls=(first.url, f"http://127.0.0.1:{port}"),
                served_model="m",
                options={"retry_backoff": 0.05},
            )
        )
        for _ in range(2):
            await run(engine)
        back = engine.replicas.replicas[1]
        assert back.failures >= 1
        with serve(late.app(), port=port):
            await asyncio.sleep(0.1)  # past the backoff
            for _ in range(4):
                await run(engine)
        await engine.close()
    assert late.requests and back.failures == 0


async def test_health_lists_each_replica():
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(FakeVllm(model="m").app()) as up:
        engine = create(Route("m", "vllm", urls=(up.url, dead), served_model="m"))
        health = await engine.health()
        each = await engine.health_all()
        await engine.close()
    assert health.ok and "1/2 replicas up" in health.detail
    assert [h.ok for h in each] == [True, False]
    assert dead in each[1].detail and "vllm serve" in each[1].detail


async def test_a_connect_timeout_fails_over_too():
    import httpx

    body = (
        b'data: {"choices": [{"index": 0, "text": "ok"}]}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}\n\n'
        b"data: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "blackholed":
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    route = Route(
        "m", "vllm", urls=("http://blackholed:8000", "http://gpu2:8000"), served_model="m"
    )
    engine = create(route, client=client)
    engine.replicas.replicas[1].in_flight = 1  # so the blackholed one is tried first
    assert await run(engine) == "ok"
    blackholed = engine.replicas.replicas[0]
    assert blackholed.failures == 1 and "timed out connecting" in blackholed.last_error
    engine.replicas.replicas[1].url = "http://blackholed:8001"  # now both time out
    with pytest.raises(AiError) as info:
        await run(engine)
    await client.aclose()
    assert info.value.code == 3007 and "all 2 replicas are unreachable" in str(info.value)


def test_label_marks_down_replicas():
    replicas = ReplicaSet(["http://a", "http://b"])
    replicas.mark_down(replicas.replicas[1], "refused")
    assert replicas.label() == "2 replicas: http://a, http://b (down)"
    assert ReplicaSet(["http://a"]).label() == "http://a"
