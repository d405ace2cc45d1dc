"""Keep only a thread's latest state: `POST /threads/prune` with `strategy="keep_latest"`.

On PostgreSQL this is LangGraph's own `AsyncPostgresSaver.aprune`. LangGraph's SQLite saver
has none, so for the embedded default the same rules are applied here, in one write
transaction under the saver's lock (the pattern of `checkpoints/prune.py`):

- each namespace keeps its newest checkpoint, and that checkpoint's parent too when the
  parent holds pending `Send`s (`__pregel_tasks` writes), which the newest one still needs;
- a subgraph *call* (a namespace `node:task_id`) older than the root's newest checkpoint
  belongs to a finished step and goes whole; a newer one is the call in progress and stays;
- a kept checkpoint whose parent was deleted becomes a root (`parent_checkpoint_id` NULL).

SQLite stores each checkpoint whole (no shared blobs), so nothing else has to be kept.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.types import TASKS
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

HEADS = """SELECT checkpoint_ns, max(checkpoint_id) FROM checkpoints WHERE thread_id = ?
    GROUP BY checkpoint_ns"""
PARENT = """SELECT parent_checkpoint_id FROM checkpoints
    WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"""
HAS_SENDS = """SELECT 1 FROM writes
    WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ? AND channel = ? LIMIT 1"""


async def keep_latest(saver: Any, thread_id: str) -> None:
    """Delete every checkpoint of the thread but its latest state (per namespace)."""
    inner = getattr(saver, "inner", saver)  # under `PatientSaver`
    if isinstance(inner, AsyncSqliteSaver):
        await _keep_latest_sqlite(inner, thread_id)
    else:
        await saver.aprune([thread_id], strategy="keep_latest")


async def _keep_latest_sqlite(saver: AsyncSqliteSaver, thread_id: str) -> None:
    conn = saver.conn
    async with saver.lock:
        # BEGIN IMMEDIATE takes SQLite's write lock now: no checkpoint lands between the
        # read of the heads and the deletes.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(HEADS, (thread_id,)) as cursor:
                heads = {str(ns): str(newest) for ns, newest in await cursor.fetchall()}
            root = heads.get("")
            for ns, head in heads.items():
                kept: list[str] = []
                if ":" not in ns or root is None or head > root:
                    kept = [head]
                    async with conn.execute(PARENT, (thread_id, ns, head)) as cursor:
                        row = await cursor.fetchone()
                    parent = row[0] if row else None
                    if parent is not None:
                        async with conn.execute(
                            HAS_SENDS, (thread_id, ns, parent, TASKS)
                        ) as cursor:
                            if await cursor.fetchone() is not None:
                                kept.append(parent)
                await _delete_all_but(conn, thread_id, ns, kept)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise


async def _delete_all_but(conn: Any, thread_id: str, ns: str, kept: list[str]) -> None:
    """Delete the namespace's checkpoints and writes but `kept`; orphans become roots."""
    params = (thread_id, ns, *kept)
    if not kept:  # `x NOT IN ()` is not SQL
        for table in ("writes", "checkpoints"):
            await conn.execute(
                f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ?", params
            )
        return
    marks = ", ".join("?" * len(kept))
    for table in ("writes", "checkpoints"):
        await conn.execute(
            f"""DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ?
            AND checkpoint_id NOT IN ({marks})""",
            params,
        )
    await conn.execute(
        f"""UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ?
        AND checkpoint_ns = ? AND parent_checkpoint_id NOT IN ({marks})""",
        params,
    )
