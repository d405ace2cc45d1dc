"""Every thread belongs to the identity that created it.

A thread id is claimed by the first identity that uses it; any other identity gets 404 for
it, on every surface, so a thread's existence is not disclosed. The checkpointer knows
nothing of owners: this table is checked before a run touches a thread.
"""

from __future__ import annotations

from server.auth.db import Database
from server.auth.identity import Identity


class ThreadNotFound(LookupError):
    """The thread does not exist for this identity."""


class ThreadOwners:
    """Claim and check thread ownership."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, thread_id: str, identity: Identity) -> None:
        """Claim `thread_id` for `identity`, or confirm it already owns it.

        Raises:
            ThreadNotFound: when another identity owns the thread.
        """
        await self.db.fetch(
            "INSERT INTO orca_threads (thread_id, owner) VALUES (%s, %s) "
            "ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, identity.id),
        )
        rows = await self.db.fetch(
            "SELECT owner FROM orca_threads WHERE thread_id = %s", (thread_id,)
        )
        if not rows or rows[0][0] != identity.id:
            raise ThreadNotFound(thread_id)

    async def release(self, thread_id: str, owner: str) -> None:
        """Forget `owner`'s claim on a deleted thread (its id may be claimed again)."""
        await self.db.fetch(
            "DELETE FROM orca_threads WHERE thread_id = %s AND owner = %s", (thread_id, owner)
        )

    async def owns(self, thread_id: str, identity: Identity) -> bool:
        """Return whether `identity` owns an existing thread."""
        rows = await self.db.fetch(
            "SELECT owner FROM orca_threads WHERE thread_id = %s", (thread_id,)
        )
        return bool(rows) and rows[0][0] == identity.id
