"""`ORCA_THREAD_TTL`: the default TTL of new threads and how often expired ones are swept.

langgraph-api's `checkpointer.ttl` (`ThreadTTLConfig`), with the same keys. Each thread
carries its own TTL (`POST /threads` and `PATCH /threads/{id}` with `ttl`, or this
default), so a sweeper with no default still sweeps the threads that were given one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.runs.records import ThreadExpiry, TTLStrategy
from server.store.config import _json_object
from server.store.rules import MAX_TTL_MINUTES, MIN_TTL_MINUTES


class ThreadTTLConfig(BaseModel):
    """Thread expiry: a default TTL, its strategy, the sweeper's pace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: TTLStrategy = "delete"
    """What `default_ttl` does to a thread: `delete` it, or `keep_latest` (prune its older
    checkpoints, then count the TTL again)."""
    default_ttl: float | None = Field(
        default=None, ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES, strict=True
    )
    """Minutes a thread created without a `ttl` lives, on every surface; unset: forever."""
    sweep_interval_minutes: float = Field(default=5, gt=0)
    """How often expired threads are swept (a fraction of a minute is for tests); an
    expired thread stays readable until then, as in langgraph-api."""
    sweep_limit: int = Field(default=1000, ge=1)
    """Most threads one sweep expires; the rest wait for the next one."""

    _from_json = model_validator(mode="before")(_json_object)

    def default(self) -> ThreadExpiry | None:
        """Return the TTL of a thread created without one (None: it never expires)."""
        return None if self.default_ttl is None else ThreadExpiry(self.strategy, self.default_ttl)

    def __str__(self) -> str:
        """Return the JSON `ORCA_THREAD_TTL` takes (the configuration reference shows it)."""
        return self.model_dump_json()
