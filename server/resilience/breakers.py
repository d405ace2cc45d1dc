"""A circuit breaker per upstream (purgatory), and its state as health checks and metrics see it.

purgatory moves a circuit from open to half-open lazily, when the first call after the
reset time arrives; `state()` reports that moment as half-open already, because the next
call is the probe. While half-open purgatory lets every concurrent call through, not one
probe; with a few callers per upstream that costs little. Failures are what
`policy.classify` says they are: connect errors, timeouts and 5xx count; a 4xx (the
caller's mistake, or a 429) and a caller that went away do not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from server.resilience.errors import CircuitOpen
from server.resilience.policy import classify

CircuitState = Literal["closed", "half-open", "open"]
STATE_VALUES: dict[CircuitState, int] = {"closed": 0, "half-open": 1, "open": 2}
"""The `orca_circuit_state` gauge's encoding."""


def _not_a_failure(exc: BaseException) -> bool:
    return not classify(exc).failure


class Breakers:
    """The circuits of one process, by upstream name."""

    def __init__(self, *, failures: int = 5, reset_s: float = 30.0) -> None:
        self.failures = failures
        self.reset_s = reset_s
        # One catch-all exclusion: purgatory checks it first, so `classify` alone decides.
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failures,
            default_ttl=reset_s,
            exclude=[(BaseException, _not_a_failure)],
        )
        self._names: list[str] = []

    @property
    def names(self) -> list[str]:
        """Return the upstreams that have a circuit."""
        return list(self._names)

    async def add(self, name: str) -> None:
        """Create the circuit of `name` (closed), so it is reported before its first call."""
        await self._factory.get_breaker(name)
        if name not in self._names:
            self._names.append(name)

    @asynccontextmanager
    async def guard(self, name: str) -> AsyncIterator[None]:
        """Run the block as one attempt through the circuit of `name`.

        Raises:
            CircuitOpen: at once, while the circuit is open.
        """
        breaker = await self._factory.get_breaker(name)
        try:
            async with breaker:
                yield
        except OpenedState:
            raise CircuitOpen(name, self.retry_in(name)) from None

    def state(self, name: str) -> CircuitState:
        """Return the circuit's state; open past its reset time reads as half-open."""
        context = self._context(name)
        if context is None or context.state == "closed":
            return "closed"
        if context.state == "half-opened":
            return "half-open"
        return "half-open" if self.retry_in(name) <= 0 else "open"

    def retry_in(self, name: str) -> float:
        """Return the seconds until an open circuit lets a probe through (0 otherwise)."""
        context = self._context(name)
        if context is None or context.state != "opened" or context.opened_at is None:
            return 0.0
        return max(context.opened_at + context.ttl - time.time(), 0.0)

    def failure_count(self, name: str) -> int:
        """Return the consecutive failures counted towards opening the circuit."""
        context = self._context(name)
        return int(context.failure_count or 0) if context is not None else 0

    def report(self, name: str) -> dict[str, object]:
        """Return the circuit's state for `/health/detailed`."""
        report: dict[str, object] = {
            "state": self.state(name),
            "failures": self.failure_count(name),
        }
        if self.state(name) == "open":
            report["retry_in_s"] = round(self.retry_in(name), 1)
        return report

    def _context(self, name: str):  # type: ignore[no-untyped-def]
        # The in-memory unit of work hands out the live context object; reading it needs
        # no lock, and nothing here writes to it.
        return self._factory.uow.contexts.breakers.get(name)  # type: ignore[attr-defined]
