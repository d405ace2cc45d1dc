"""Concurrent streams per identity, counted in this process.

A stream holds a model and a connection for as long as it runs, so a cap on how many one
identity may hold at once (OWASP API4) is the limit that matters for streaming, more than
a rate. The count is per process: a slot must be released by the process that took it,
even when that process dies, which a shared counter cannot promise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

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

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold one of `key`'s slots for the duration of the block.

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
        try:
            yield
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]
