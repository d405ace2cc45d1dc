"""The memory run store with a switchable database outage, for tests of riding one out.

While `down`, every call raises what psycopg raises when the server goes away (an
`OperationalError`). `lose_answer` makes the next call of a method take effect and then
fail, as a statement that committed just before its connection died. With
`refuse_nul`, `finish_run` refuses values holding U+0000, as PostgreSQL's jsonb does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg

from server.runs.memory_store import MemoryRunStore
from server.runs.records import (
    Finished,
    OutcomeUnstorable,
    RunRecord,
    RunStatus,
    StoredEvent,
    ThreadOutcome,
)
from server.runs.serde import dumps


class FlakyStore(MemoryRunStore):
    """A `MemoryRunStore` whose database can go away."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.failed: Counter[str] = Counter()
        """Calls refused, by method."""
        self.lose_answer: set[str] = set()
        self.refuse_nul = False

    def _gate(self, method: str) -> None:
        if self.down:
            self.failed[method] += 1
            raise psycopg.OperationalError("the database system is shutting down")

    def _answer_lost(self, method: str) -> None:
        if method in self.lose_answer:
            self.lose_answer.discard(method)
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    async def append_events(self, run_id: str, events: list[StoredEvent]) -> None:
        """Buffer events, unless the database is away."""
        self._gate("append_events")
        await super().append_events(run_id, events)
        self._answer_lost("append_events")

    async def read_events(self, run_id: str, after: int) -> list[StoredEvent]:
        """Read events, unless the database is away."""
        self._gate("read_events")
        return await super().read_events(run_id, after)

    async def last_event_seq(self, run_id: str) -> int:
        """Read the last seq, unless the database is away."""
        self._gate("last_event_seq")
        return await super().last_event_seq(run_id)

    async def get_run(self, run_id: str, owner: str | None = None) -> RunRecord | None:
        """Read a run, unless the database is away."""
        self._gate("get_run")
        return await super().get_run(run_id, owner)

    async def heartbeat(self, run_id: str, worker: str, attempt: int, lease_s: float) -> bool:
        """Extend a lease, unless the database is away."""
        self._gate("heartbeat")
        return await super().heartbeat(run_id, worker, attempt, lease_s)

    async def cancel_requested(self, run_id: str) -> str | None:
        """Read a cancel, unless the database is away."""
        self._gate("cancel_requested")
        return await super().cancel_requested(run_id)

    async def claim_next(self, worker: str, lease_s: float) -> RunRecord | None:
        """Claim a run, unless the database is away."""
        self._gate("claim_next")
        return await super().claim_next(worker, lease_s)

    async def requeue_expired(self, max_attempts: int) -> list[str]:
        """Requeue expired runs, unless the database is away."""
        self._gate("requeue_expired")
        return await super().requeue_expired(max_attempts)

    async def finish_run(
        self,
        run_id: str,
        worker: str,
        attempt: int,
        *,
        status: RunStatus,
        result: Any,
        cancel_reason: str | None = None,
        thread: ThreadOutcome | None = None,
        events: list[StoredEvent] | None = None,
    ) -> Finished:
        """Record an outcome, unless the database is away or refuses its values."""
        self._gate("finish_run")
        values = thread.values if thread else None
        if self.refuse_nul and b"\\u0000" in dumps([result, values]):
            raise OutcomeUnstorable("UntranslatableCharacter: unsupported Unicode escape sequence")
        finished = await super().finish_run(
            run_id,
            worker,
            attempt,
            status=status,
            result=result,
            cancel_reason=cancel_reason,
            thread=thread,
            events=events,
        )
        self._answer_lost("finish_run")
        return finished
