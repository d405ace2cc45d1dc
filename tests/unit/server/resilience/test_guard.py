"""The guard: one retry loop, a circuit, a bulkhead and a deadline per upstream."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from server.resilience.breakers import Breakers
from server.resilience.errors import CircuitOpen, StreamBroken, UpstreamTimeout, UpstreamUnavailable
from server.resilience.guard import Guard, StreamLimits
from server.resilience.policy import RetryPolicy
from tests.support import eventually
from tests.unit.server.resilience.test_policy import status_error

FAST = RetryPolicy(attempts=3, initial_s=0.001, max_s=0.002, deadline_s=5)


async def guard(
    *, failures: int = 5, reset_s: float = 30, concurrency: int = 4, **policy: float
) -> Guard:
    breakers = Breakers(failures=failures, reset_s=reset_s)
    await breakers.add("llm-01")
    settings = {**FAST.__dict__, **policy}
    return Guard(
        "llm-01",
        breakers=breakers,
        policy=RetryPolicy(**settings),
        max_concurrency=concurrency,
        stream_limits=StreamLimits(first_token_s=0.2, idle_s=0.2),
    )


class Upstream:
    """Fails with the scripted exceptions, then answers; counts calls."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


async def test_transient_failures_are_retried_within_the_attempts() -> None:
    g = await guard()
    upstream = Upstream(httpx.ConnectError("refused"), status_error(503))
    assert await g.call(upstream) == "answer"
    assert upstream.calls == 3 and g.retries == 2


async def test_every_attempt_failing_is_one_503_after_exactly_the_attempts() -> None:
    g = await guard()
    upstream = Upstream(*[status_error(500)] * 5)
    with pytest.raises(UpstreamUnavailable):
        await g.call(upstream)
    assert upstream.calls == 3


async def test_one_attempt_means_no_retry() -> None:
    g = await guard(attempts=1)
    upstream = Upstream(status_error(503))
    with pytest.raises(UpstreamUnavailable):
        await g.call(upstream)
    assert upstream.calls == 1 and g.retries == 0 and g.attempts == 1


async def test_a_retry_that_would_start_after_the_deadline_is_not_waited_for() -> None:
    g = await guard(deadline_s=0.5, retry_after_cap_s=10)
    upstream = Upstream(status_error(429, {"Retry-After": "5"}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(UpstreamUnavailable):
        await g.call(upstream)
    assert upstream.calls == 1 and g.retries == 0
    assert loop.time() - started < 4  # gave up, not slept 5 s past the deadline


async def test_a_client_error_is_raised_at_once_and_does_not_count_against_the_circuit() -> None:
    g = await guard(failures=1)
    upstream = Upstream(status_error(400))
    with pytest.raises(httpx.HTTPStatusError):
        await g.call(upstream)
    assert upstream.calls == 1 and g.state == "closed"


async def test_the_circuit_opens_fails_fast_half_opens_and_closes() -> None:
    g = await guard(failures=2, reset_s=0.2, attempts=1)
    failing = Upstream(*[status_error(500)] * 10)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await g.call(failing)
    assert g.state == "open" and failing.calls == 2
    with pytest.raises(CircuitOpen) as refused:
        await g.call(failing)
    assert failing.calls == 2  # refused without calling
    assert 0 < refused.value.retry_after <= 0.2
    await eventually(lambda: g.state == "half-open")
    with pytest.raises(UpstreamUnavailable):  # the probe fails: open again
        await g.call(failing)
    assert g.state == "open" and failing.calls == 3
    await eventually(lambda: g.state == "half-open")
    assert await g.call(Upstream()) == "answer"
    assert g.state == "closed"


async def test_the_deadline_bounds_a_hung_call_and_counts_as_a_failure() -> None:
    g = await guard(failures=1, deadline_s=0.1)

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(UpstreamTimeout):
        await g.call(hang)
    assert g.state == "open"


async def test_a_full_bulkhead_queues_its_own_calls_only() -> None:
    embeddings, chat = await guard(concurrency=1), await guard(concurrency=1)
    release = asyncio.Event()

    async def held() -> str:
        await release.wait()
        return "late"

    first = asyncio.create_task(embeddings.call(held))
    await eventually(lambda: embeddings.in_flight == 1)
    second = asyncio.create_task(embeddings.call(held))
    assert await chat.call(Upstream()) == "answer"  # another upstream's slots are free
    assert embeddings.in_flight == 1 and not second.done()
    release.set()
    assert await first == await second == "late"


def stream_of(*chunks: str, stall_after: int | None = None) -> AsyncIterator[str]:
    async def chunks_() -> AsyncIterator[str]:
        for i, chunk in enumerate(chunks):
            if i == stall_after:
                await asyncio.Event().wait()
            yield chunk

    return chunks_()


async def test_a_stream_is_retried_until_its_first_meaningful_chunk_and_never_after() -> None:
    g = await guard()
    opened: list[int] = []

    def flaky() -> AsyncIterator[str]:
        opened.append(1)
        if len(opened) == 1:
            return stream_of("", "", stall_after=1)  # a role chunk, then silence
        return stream_of("", "Hello", " world")

    received = [chunk async for chunk in g.stream(flaky, meaningful=bool)]
    assert received == ["", "Hello", " world"] and len(opened) == 2

    def breaks_mid_answer() -> AsyncIterator[str]:
        opened.append(1)
        return stream_of("Hello", " wor", "ld", stall_after=2)

    received = []
    with pytest.raises(StreamBroken):
        async for chunk in g.stream(breaks_mid_answer, meaningful=bool):
            received.append(chunk)
    assert received == ["Hello", " wor"] and len(opened) == 3
