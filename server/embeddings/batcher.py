"""Single-flight and micro-batching in front of one embedding provider.

Every input is a key. A key already being computed is joined, not computed again
(single-flight). New keys wait in one queue; a dispatcher sends them to the provider in
batches of at most `max_batch`, with at most `max_concurrency` calls in flight. While every
call slot is busy, inputs of concurrent requests pile up and leave together in the next
batch, so batching costs an idle server no latency; `max_wait` can hold a batch a little
longer to fill it. The batcher owns the provider calls: a caller that goes away stops
waiting, and the others still get their vectors.

A batch takes its inputs round-robin from the requests waiting, one from each in turn, not
in arrival order: behind one request of 2,048 long texts (a minute of the local model's
time), another caller's one text waited for all of them, and every caller's embeddings and
`rag` answers were 503 for that minute. Now it leaves in the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from server.embeddings import errors
from server.embeddings.cache import CachedVector
from server.embeddings.errors import ApiError, InputsRefused
from server.embeddings.provider import Embedder

log = logging.getLogger("orca.embeddings")

Results = dict[bytes, CachedVector]

GATHER_S = 0.002
"""Longest the dispatcher keeps yielding for inputs still arriving (see `_gather_arrivals`)."""


class FailedInput(Exception):
    """The provider could not embed the input under `key`; `error` says why."""

    def __init__(self, key: bytes, error: BaseException) -> None:
        super().__init__(str(error))
        self.key = key
        self.error = error


class MicroBatcher:
    """Coalesce the misses of concurrent requests into bounded provider calls."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        on_computed: Callable[[Results], None],
        max_batch: int,
        max_concurrency: int,
        max_wait_s: float = 0.0,
        max_queue: int = 16384,
        queue_timeout_s: float = 30.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.embedder = embedder
        self.on_computed = on_computed
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self.on_batch = on_batch or (lambda size: None)
        self.min_busy_batch = embedder.min_busy_batch
        self._moved = asyncio.Event()
        """Set when an input is queued or a call ends (see `_fill_while_busy`)."""
        self._slots = asyncio.Semaphore(max_concurrency)
        self._pending: dict[bytes, str] = {}
        self._turns: deque[deque[bytes]] = deque()
        """The pending keys of each request that has some, in the order they take turns."""
        self._inflight: dict[bytes, asyncio.Future[CachedVector]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.provider_calls = 0
        self.batch_sizes: deque[int] = deque(maxlen=1024)
        """The sizes of the latest provider calls."""

    @property
    def queued(self) -> int:
        """Return how many inputs wait for a provider call."""
        return len(self._pending)

    async def run(self, items: dict[bytes, str]) -> Results:
        """Return a vector per key, computing each key once however many callers ask.

        Raises:
            ApiError: 503 when the queue is full or the wait exceeds the queue timeout.
            FailedInput: naming the first key the provider failed on, and why.
        """
        if not items:
            return {}
        futures = self._submit(items)
        done, waiting = await asyncio.wait(futures.values(), timeout=self.queue_timeout_s)
        if waiting:
            raise errors.overloaded(
                f"embedding requests waited over {self.queue_timeout_s:g}s for the provider; "
                "retry later",
                retry_after=5.0,
            )
        for key, future in futures.items():
            error = future.exception()
            if error is not None:
                raise FailedInput(key, error)
        return {key: future.result() for key, future in futures.items()}

    def _submit(self, items: dict[bytes, str]) -> dict[bytes, asyncio.Future[CachedVector]]:
        new = {key: text for key, text in items.items() if key not in self._inflight}
        if self._pending and len(self._pending) + len(new) > self.max_queue:
            raise errors.overloaded(
                f"{len(self._pending)} inputs already wait for the embedding provider; "
                "retry shortly"
            )
        loop = asyncio.get_running_loop()
        for key, text in new.items():
            future: asyncio.Future[CachedVector] = loop.create_future()
            future.add_done_callback(_retrieve)
            self._inflight[key] = future
            self._pending[key] = text
        if new:
            self._turns.append(deque(new))
            self._moved.set()
        if new and self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch())
        return {key: self._inflight[key] for key in items}

    async def _dispatch(self) -> None:
        try:
            while self._pending:
                await self._slots.acquire()
                await self._fill_while_busy()
                if self.max_wait_s and len(self._pending) < self.max_batch:
                    await asyncio.sleep(self.max_wait_s)
                else:
                    await self._gather_arrivals()
                batch = self._next_batch()
                call = asyncio.create_task(self._call(batch))
                self._calls.add(call)
                call.add_done_callback(self._ended)
        finally:
            self._dispatcher = None

    def _next_batch(self) -> dict[bytes, str]:
        """Take up to `max_batch` pending inputs, one from each waiting request in turn."""
        batch: dict[bytes, str] = {}
        while self._turns and len(batch) < self.max_batch:
            keys = self._turns.popleft()
            key = keys.popleft()
            batch[key] = self._pending.pop(key)
            if keys:
                self._turns.append(keys)
        return batch

    def _ended(self, call: asyncio.Task[None]) -> None:
        self._calls.discard(call)
        self._moved.set()

    async def _fill_while_busy(self) -> None:
        """Hold a batch under `min_busy_batch` while a call is in flight, until it fills or none is.

        An in-process model's pass costs about as much for one text as for a few (it reads
        all the weights either way): with 32 clients sending one text each, a lone client
        answered quickly kept coming back alone, and a third of the passes carried one
        text. A remote server (`min_busy_batch` 1) is never held.
        """
        while self._calls and len(self._pending) < self.min_busy_batch:
            self._moved.clear()
            await self._moved.wait()

    async def _gather_arrivals(self) -> None:
        """Let requests already on their way join the batch, for at most `GATHER_S`.

        When a call returns, every client it answered sends its next input a moment later;
        dispatching the first to arrive alone, and the rest behind it, would alternate a
        batch of one with a full one (about half the model's batch throughput with one
        call slot). So the dispatcher yields to the event loop while inputs keep arriving,
        and goes as soon as two turns of the loop bring none: an idle server's lone
        request waits two turns, not a timer.
        """
        loop = asyncio.get_running_loop()
        deadline, seen, quiet = loop.time() + GATHER_S, len(self._pending), 0
        # Two quiet turns: a request read in one turn reaches `run` in the next one.
        while quiet < 2 and len(self._pending) < self.max_batch and loop.time() < deadline:
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._pending) == seen else 0
            seen = len(self._pending)

    async def _call(self, batch: dict[bytes, str]) -> None:
        try:
            await self._compute(batch)
        finally:
            self._slots.release()

    async def _compute(self, batch: dict[bytes, str]) -> None:
        keys = list(batch)
        self.provider_calls += 1
        self.batch_sizes.append(len(keys))
        self.on_batch(len(keys))
        try:
            embedded = await self.embedder.embed(list(batch.values()))
        except InputsRefused as exc:
            refused = [keys[i] for i in exc.indices]
            self._fail(refused, exc)
            rest = {key: text for key, text in batch.items() if key not in set(refused)}
            if rest:
                await self._compute(rest)
            return
        except ApiError as exc:
            if exc.status == 400 and len(keys) > 1:
                # One input of a shared batch was refused without saying which: embed
                # singly, so each caller gets its own answer and not a neighbour's error.
                for key, text in batch.items():
                    await self._compute({key: text})
                return
            self._fail(keys, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure must reach the waiters
            log.exception("embedding provider call failed")
            self._fail(keys, errors.upstream_failed(self.embedder.label, type(exc).__name__))
            return
        results = {
            key: CachedVector(embedded.vectors[i].copy(), embedded.tokens[i])
            for i, key in enumerate(keys)
        }
        try:
            self.on_computed(results)
        except Exception:  # noqa: BLE001 - a cache failure must not lose the vectors
            log.exception("storing computed embeddings failed")
        for key, value in results.items():
            future = self._inflight.pop(key)
            if not future.done():
                future.set_result(value)

    def _fail(self, keys: list[bytes], exc: Exception) -> None:
        for key in keys:
            future = self._inflight.pop(key)
            if not future.done():
                future.set_exception(exc)

    async def aclose(self) -> None:
        """Cancel the dispatcher and the provider calls in flight."""
        tasks = [*self._calls, *([self._dispatcher] if self._dispatcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._inflight.values():
            future.cancel()


def _retrieve(future: asyncio.Future[CachedVector]) -> None:
    """Mark an exception as seen: every waiter may have gone away."""
    if not future.cancelled():
        future.exception()
