"""The process's upstream guards by name, built from settings, visible in metrics and health."""

from __future__ import annotations

from typing import Any

from server.observability.metrics import Metrics
from server.resilience.breakers import STATE_VALUES, Breakers
from server.resilience.guard import Guard, StreamLimits
from server.resilience.policy import RetryPolicy
from server.settings import Settings

LLM_UPSTREAMS = ("llm-01", "llm-02")
EMBEDDINGS, EMBEDDINGS_FALLBACK, QDRANT, POSTGRES = (
    "embeddings",
    "embeddings-fallback",
    "qdrant",
    "postgres",
)


class Upstreams:
    """One `Guard` per upstream, sharing one policy and one set of circuits."""

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        stream_limits: StreamLimits | None = None,
        breakers: Breakers | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.stream_limits = stream_limits or StreamLimits()
        self.breakers = breakers or Breakers()
        self.metrics = metrics
        self._guards: dict[str, Guard] = {}

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None) -> Upstreams:
        """Return the registry the retry, breaker and timeout settings describe."""
        return cls(
            policy=RetryPolicy(
                attempts=settings.retry_attempts,
                initial_s=settings.retry_initial_s,
                max_s=settings.retry_max_s,
                retry_after_cap_s=settings.retry_after_cap_s,
                deadline_s=settings.upstream_deadline_s,
            ),
            stream_limits=StreamLimits(
                first_token_s=settings.stream_first_token_timeout_s,
                idle_s=settings.stream_idle_timeout_s,
            ),
            breakers=Breakers(failures=settings.breaker_failures, reset_s=settings.breaker_reset_s),
            metrics=metrics,
        )

    async def add(self, name: str, *, max_concurrency: int) -> Guard:
        """Create the guard of `name` (its circuit closed) and export its state."""
        await self.breakers.add(name)
        guard = Guard(
            name,
            breakers=self.breakers,
            policy=self.policy,
            max_concurrency=max_concurrency,
            stream_limits=self.stream_limits,
            on_retry=self._count_retry,
        )
        self._guards[name] = guard
        if self.metrics is not None:
            # Read at scrape time: purgatory turns open into half-open only on a call.
            self.metrics.circuit_state.labels(name).set_function(
                lambda: STATE_VALUES[self.breakers.state(name)]
            )
        return guard

    def get(self, name: str) -> Guard | None:
        """Return the guard of `name`, or None when that upstream is not guarded."""
        return self._guards.get(name)

    def __getitem__(self, name: str) -> Guard:
        return self._guards[name]

    def report(self) -> dict[str, dict[str, Any]]:
        """Return every guard's circuit and bulkhead, for `/health/detailed`."""
        return {name: guard.report() for name, guard in self._guards.items()}

    def _count_retry(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.upstream_retries.labels(name).inc()
