"""One upstream's guard: a bulkhead, a circuit breaker and the one retry loop (tenacity).

Every logical call to an upstream goes through `Guard.call` (or `Guard.stream`): each
attempt takes a slot of the upstream's bulkhead, passes its circuit, and runs under what
is left of the call's deadline; failures the policy calls transient are retried with full
jitter, or after the server's `Retry-After`. Nothing below retries on its own (the OpenAI
SDK runs with `max_retries=0`), so one logical call makes at most `attempts` upstream calls.

A stream is retried only until its first meaningful chunk (text or a tool call): chunks
are held back until then, so a stream that fails before it is retried invisibly. After
it, a failure ends the stream with `StreamBroken` rather than repeat text the client has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from server.embeddings.errors import ApiError
from server.resilience.breakers import Breakers, CircuitState
from server.resilience.errors import (
    CircuitOpen,
    StreamBroken,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from server.resilience.policy import RetryPolicy, classify

log = logging.getLogger("orca.upstreams")

T = TypeVar("T")


@dataclass(frozen=True)
class StreamLimits:
    """Time allowed for a streamed answer."""

    first_token_s: float = 30.0
    """From the request to the first meaningful chunk (retried before it)."""
    idle_s: float = 30.0
    """Between two chunks after the first (not retried)."""


@dataclass
class _Opened(Generic[T]):
    """A stream that has produced its first meaningful chunk (or ended before one)."""

    stack: AsyncExitStack
    """Holds the bulkhead slot and the circuit until the stream ends."""
    chunks: AsyncIterator[T]
    held: list[T] = field(default_factory=list)
    ended: bool = False


class Guard:
    """Bulkhead, circuit and retries for one upstream (`llm-01`, `embeddings`, `qdrant`...)."""

    def __init__(
        self,
        name: str,
        *,
        breakers: Breakers,
        policy: RetryPolicy,
        max_concurrency: int,
        stream_limits: StreamLimits | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.stream_limits = stream_limits or StreamLimits()
        self.max_concurrency = max_concurrency
        self.attempts = 0
        """Upstream calls made (attempts, retries included), for tests and measurements."""
        self.retries = 0
        self.in_flight = 0
        self._breakers = breakers
        self._slots = asyncio.Semaphore(max_concurrency)
        self._on_retry = on_retry or (lambda name: None)

    @property
    def state(self) -> CircuitState:
        """Return the circuit's state."""
        return self._breakers.state(self.name)

    def report(self) -> dict[str, Any]:
        """Return the circuit and bulkhead state for `/health/detailed`."""
        return {
            **self._breakers.report(self.name),
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
        }

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` as one logical call: attempts under the policy, within the deadline.

        Raises:
            CircuitOpen: the circuit is open (no attempt made).
            UpstreamTimeout: the deadline passed.
            UpstreamUnavailable: every attempt failed transiently (connect error, 5xx, 429).
            Exception: anything else `fn` raised (a 4xx, a bug), unchanged, after one attempt.
        """
        deadline_at = asyncio.get_running_loop().time() + self.policy.deadline_s
        # The first attempt runs outside tenacity, whose loop cost about 60 µs of each
        # cache-missed /v1/embeddings request; a failure it would retry is replayed to it
        # as its first attempt, so the policy applies unchanged.
        replay: list[Exception] = []

        async def attempt() -> T:
            if replay:
                raise replay.pop()
            async with self._attempt(deadline_at):
                return await fn()

        try:
            try:
                return await attempt()
            except Exception as first:
                if not classify(first, self.policy).retry:
                    raise
                replay.append(first)
            return await self._retrying(deadline_at)(attempt)
        except Exception as exc:
            raise self._final(exc, f"no answer within {self.policy.deadline_s:g}s") from exc

    async def stream(
        self, open_stream: Callable[[], AsyncIterator[T]], meaningful: Callable[[T], bool]
    ) -> AsyncIterator[T]:
        """Yield `open_stream()`'s chunks, retrying the stream until its first meaningful one.

        Raises:
            CircuitOpen, UpstreamTimeout, UpstreamUnavailable: before the first chunk, as `call`.
            StreamBroken: a failure or a silence past the idle timeout after it.
        """
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + self.policy.deadline_s
        try:
            opened: _Opened[T] = await self._retrying(deadline_at)(
                self._open, open_stream, meaningful, deadline_at
            )
        except Exception as exc:
            detail = f"no first token within {self.stream_limits.first_token_s:g}s"
            raise self._final(exc, detail) from exc
        async with opened.stack:
            for chunk in opened.held:
                yield chunk
            if opened.ended:
                return
            idle_s = self.stream_limits.idle_s
            while True:
                try:
                    async with asyncio.timeout_at(min(deadline_at, loop.time() + idle_s)):
                        chunk = await anext(opened.chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    raise StreamBroken(self.name, f"no token for {idle_s:g}s") from exc
                except Exception as exc:
                    if classify(exc).failure:
                        raise StreamBroken(self.name, _describe(exc)) from exc
                    raise
                yield chunk

    async def _open(
        self,
        open_stream: Callable[[], AsyncIterator[T]],
        meaningful: Callable[[T], bool],
        deadline_at: float,
    ) -> _Opened[T]:
        """Make one attempt: open the stream and read up to its first meaningful chunk."""
        stack = AsyncExitStack()
        await stack.enter_async_context(self._attempt(deadline_at, time_call=False))
        loop = asyncio.get_running_loop()
        first_token_at = min(deadline_at, loop.time() + self.stream_limits.first_token_s)
        try:
            chunks = aiter(open_stream())
            # Closed first when the stack closes: the upstream's response goes with the
            # stream, also when the caller stops reading early.
            stack.push_async_callback(_aclose, chunks)
            opened = _Opened(stack, chunks)
            async with asyncio.timeout_at(first_token_at):
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        opened.ended = True
                        break
                    opened.held.append(chunk)
                    if meaningful(chunk):
                        break
        except BaseException as exc:
            # Closing the stack with the exception closes the stream, records the failure
            # and frees the slot.
            if not await stack.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        return opened

    @asynccontextmanager
    async def _attempt(self, deadline_at: float, *, time_call: bool = True) -> AsyncIterator[None]:
        """Hold a bulkhead slot and pass the circuit for one upstream call.

        The wait for a slot ends at `deadline_at`, and so does the call with `time_call`
        (streams time their reads themselves). The call's timeout sits inside the
        circuit, so a hung upstream counts as failing.
        """
        if self.state == "open":  # fail fast without queueing for a slot
            raise CircuitOpen(self.name, self._breakers.retry_in(self.name))
        async with asyncio.timeout_at(deadline_at):
            await self._slots.acquire()
        try:
            # The circuit is entered after the slot: waiting for a slot is local
            # congestion, and must not count as the upstream failing.
            async with self._breakers.guard(self.name):
                self.attempts += 1
                self.in_flight += 1
                try:
                    async with asyncio.timeout_at(deadline_at if time_call else None):
                        yield
                finally:
                    self.in_flight -= 1
        finally:
            self._slots.release()

    def _retrying(self, deadline_at: float) -> AsyncRetrying:
        policy = self.policy
        loop = asyncio.get_running_loop()
        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: classify(exc, policy).retry),
            stop=stop_after_attempt(policy.attempts) | _StopAtDeadline(loop, deadline_at),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, or the server's (capped) `Retry-After`."""
        backoff = wait_random_exponential(multiplier=self.policy.initial_s, max=self.policy.max_s)
        wait = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = classify(exc, self.policy).retry_after if exc else None
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.policy.retry_after_cap_s))
        return wait

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        self._on_retry(self.name)
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s in %.2fs (attempt %d failed: %s)",
            self.name,
            state.upcoming_sleep,
            state.attempt_number,
            _describe(exc) if exc else "?",
        )

    def _final(self, exc: Exception, timeout_detail: str) -> Exception:
        """Turn the last attempt's failure into what the caller should see."""
        if isinstance(exc, UpstreamError | ApiError):  # already an answer
            return exc
        verdict = classify(exc, self.policy)
        if isinstance(exc, TimeoutError) and verdict.status is None:
            return UpstreamTimeout(self.name, timeout_detail)
        if verdict.failure or verdict.retry or verdict.status in (408, 429):
            return UpstreamUnavailable(
                self.name, _describe(exc), retry_after=verdict.retry_after or 5.0
            )
        return exc


class _StopAtDeadline(stop_base):
    """Stop when the next attempt would start after `deadline_at` (the call's, not the loop's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline_at: float) -> None:
        self.loop = loop
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.loop.time() + (retry_state.upcoming_sleep or 0.0) >= self.deadline_at


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return f"{name}: {text}"[:300] if text else name


async def _aclose(chunks: AsyncIterator[Any]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # noqa: BLE001 - the stream is being abandoned anyway
            log.debug("closing an abandoned stream failed", exc_info=True)
