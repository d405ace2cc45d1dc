"""Concurrent streams per identity, counted in this process.

A stream holds a model and a connection for as long as it runs, so a cap on how many one
identity may hold at once (OWASP API4) is the limit that matters for streaming, more than
a rate. The count is per process: a slot must be released by the process that took it,
even when that process dies, which a shared counter cannot promise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from server.embeddings.errors import ApiError

RETRY_AFTER_S = 5.0
"""A hint only: when one of the caller's own streams ends is up to the caller."""


class StreamSlots:
    """How many streams each identity has open, up to `per_identity`."""

    def __init__(self, per_identity: int) -> None:
        self.per_identity = per_identity
        self._open: Counter[str] = Counter()

    def open_for(self, key: str) -> int:
        """Return how many streams `key` has open."""
        return self._open[key]

    def take(self, key: str) -> Callable[[], None]:
        """Take one of `key`'s slots; return the function that gives it back (once).

        Raises:
            ApiError: 429 with `Retry-After` when every slot is taken.
        """
        if self._open[key] >= self.per_identity:
            raise ApiError(
                429,
                f"Too many concurrent streams: at most {self.per_identity} per caller; "
                "retry when one of yours has ended.",
                code="too_many_streams",
                retry_after=RETRY_AFTER_S,
            )
        self._open[key] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]

        return release

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold one of `key`'s slots for the duration of the block (see `take`)."""
        release = self.take(key)
        try:
            yield
        finally:
            release()


AFTER_RESPONSE = "orca.after_response"
"""Scope key of the callbacks `ReleaseAfterResponse` runs once the response has ended."""


def after_response(scope: Scope, callback: Callable[[], None]) -> None:
    """Run `callback` once the response to this request has ended (sent, or abandoned).

    Raises:
        RuntimeError: the app has no `ReleaseAfterResponse` around its routes.
    """
    callbacks = scope.get(AFTER_RESPONSE)
    if callbacks is None:
        raise RuntimeError("ReleaseAfterResponse must wrap the routes that take stream slots")
    callbacks.append(callback)


class ReleaseAfterResponse:
    """ASGI middleware: run what a request registered with `after_response` at its end.

    The request's app call returns once its response is over: every byte sent, or the
    client gone (a streaming response stops then), or an error raised; so a stream slot
    taken by a plain dependency is held exactly as long as its response streams, without
    the cost of a `yield` dependency on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then run its callbacks."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        callbacks: list[Callable[[], None]] = []
        scope[AFTER_RESPONSE] = callbacks
        try:
            await self.app(scope, receive, send)
        finally:
            for callback in callbacks:
                callback()
