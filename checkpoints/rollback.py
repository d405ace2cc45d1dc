"""Delete the checkpoints one run wrote: the `rollback` of a cancelled run.

Every checkpoint carries its run's id in its metadata (`run_id`, set by the runs API in
the run's config metadata), so the rows of one run are found without scanning blobs.
Deleting them moves the thread's head back to the last checkpoint before the run.
PostgreSQL keeps `metadata` as JSONB; SQLite as a JSON blob.
"""

from __future__ import annotations

from checkpoints.open import CheckpointStore

POSTGRES = (
    "DELETE FROM checkpoint_writes w USING checkpoints c"
    " WHERE c.thread_id = %(thread)s AND c.metadata->>'run_id' = %(run)s"
    " AND w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns"
    " AND w.checkpoint_id = c.checkpoint_id",
    "DELETE FROM checkpoints WHERE thread_id = %(thread)s AND metadata->>'run_id' = %(run)s",
)
SQLITE = (
    "DELETE FROM writes WHERE thread_id = :thread AND checkpoint_id IN ("
    " SELECT checkpoint_id FROM checkpoints WHERE thread_id = :thread"
    " AND json_extract(CAST(metadata AS TEXT), '$.run_id') = :run)",
    "DELETE FROM checkpoints WHERE thread_id = :thread"
    " AND json_extract(CAST(metadata AS TEXT), '$.run_id') = :run",
)


async def delete_run_checkpoints(store: CheckpointStore, thread_id: str, run_id: str) -> None:
    """Delete the checkpoints (and their pending writes) that `run_id` wrote on the thread."""
    params = {"thread": thread_id, "run": run_id}
    if store.kind == "postgres":
        async with store.pool.connection() as connection, connection.transaction():
            for statement in POSTGRES:
                await connection.execute(statement, params)
        return
    saver = store.saver
    async with saver.lock:  # type: ignore[attr-defined]
        for statement in SQLITE:
            await saver.conn.execute(statement, params)  # type: ignore[attr-defined]
        await saver.conn.commit()  # type: ignore[attr-defined]
