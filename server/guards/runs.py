"""The step and time bounds of every run, on every surface.

`recursion_limit` is LangGraph's own bound on the steps of one run: a graph that loops
raises `GraphRecursionError` instead of running forever. The deadline bounds the run's
wall time, so a stalled model server cannot hold a run (and its stream slot) open forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from langchain_core.runnables import RunnableConfig

from server.settings import Settings

T = TypeVar("T")


class RunTimedOut(TimeoutError):
    """A run went past its deadline; it has been cancelled (a `timeout` run)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the run took longer than {seconds:g} s and was stopped")
        self.seconds = seconds


@dataclass(frozen=True)
class RunLimits:
    """How many steps and how many seconds a run may take."""

    recursion_limit: int = 25
    """LangGraph supersteps per run."""
    timeout_s: float | None = None
    """Wall time per run; None: unbounded."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RunLimits:
        """Return the limits `ORCA_RECURSION_LIMIT` and `ORCA_RUN_TIMEOUT_S` set."""
        return cls(recursion_limit=settings.recursion_limit, timeout_s=settings.run_timeout_s)

    def apply(self, config: RunnableConfig | None) -> RunnableConfig:
        """Return `config` with the server's recursion limit (callers cannot set it)."""
        return {**(config or {}), "recursion_limit": self.recursion_limit}

    async def bounded(self, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """Yield `events` until they end or the deadline passes.

        The deadline covers only the waits for the next event, each entered and left
        within this frame: an `asyncio.timeout` held across a `yield` would cancel
        whatever the consumer happens to be awaiting instead. Past the deadline, the
        pending wait is cancelled (and with it the run) and `RunTimedOut` is raised.

        Raises:
            RunTimedOut: when the run outlives `timeout_s`.
        """
        if self.timeout_s is None:
            async for event in events:
                yield event
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            while True:
                if loop.time() >= deadline:
                    raise RunTimedOut(self.timeout_s)
                waiting = asyncio.timeout_at(deadline)
                try:
                    async with waiting:
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if waiting.expired():
                        raise RunTimedOut(self.timeout_s) from None
                    raise
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
