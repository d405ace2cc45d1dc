"""One fallback rule for every node that calls a chat model: LLM-01 ↔ LLM-02.

The model wrappers (`server.resilience`) already retried the failing model and open its
circuit when it keeps failing; an open circuit fails at once, so the fallback answers
without waiting. A failure after part of the answer reached the client is not retried
on the other model (the client would see the answer twice): such an exception says so
with `partial_output_sent = True` (`server.resilience.errors.StreamBroken`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("orca")

PRIMARY, SECONDARY = "llm-01", "llm-02"

T = TypeVar("T")


def other_model(alias: str) -> str:
    """Return the alias that stands in for `alias`."""
    return SECONDARY if alias != SECONDARY else PRIMARY


async def with_fallback(alias: str, call: Callable[[str], Awaitable[T]]) -> tuple[T, str]:
    """Return `call(alias)`, or `call(other)` when it fails, with the alias that answered."""
    try:
        return await call(alias), alias
    except Exception as exc:
        if getattr(exc, "partial_output_sent", False):
            raise
        fallback = other_model(alias)
        log.warning("chat model %s failed (%s); falling back to %s", alias, exc, fallback)
        return await call(fallback), fallback
