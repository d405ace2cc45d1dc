"""LangGraph's PostgreSQL checkpointer, its writes made in one statement each.

`OrcaPostgresSaver` is LangGraph's `AsyncPostgresSaver`: the same tables, rows, reads,
migrations and serializer. It changes how the two writes of every step reach PostgreSQL:

- **No process-wide lock on a pool.** The saver holds one `asyncio.Lock` around every
  operation even when it draws its connections from a pool (langgraph#7259, open): every
  checkpoint read and write of every run waited for the one before, and a pool of ten
  connections served the checkpoints through one. A pooled connection is its holder's
  alone, so the lock only keeps the saver within the pool's size: a semaphore of that size.
- **One statement per write.** `aput` stored a checkpoint as an `executemany` of its
  channel blobs and an insert of the checkpoint, in pipeline mode; `aput_writes` as an
  `executemany` in pipeline mode. Each is now one prepared statement, one round trip with
  none of psycopg's pipeline bookkeeping, which was the largest single cost of a step in
  the runs benchmark's profile. A step's few rows go as rows of a `VALUES` list (one
  statement text per row count); more than `ROWS_AS_VALUES` as arrays, unnested: psycopg
  adapts a list element by element in Python, which cost a statement about 60 µs of the
  loop's time for two rows (a `VALUES` list of scalars: none).
- **Serialized in place.** The values are serialized where the write is made instead of in
  a worker thread (`asyncio.to_thread`): for a step's few small values the thread hop
  cost more than the serializing. A very large state blocks the loop for as long as
  msgpack takes on it (about a millisecond per megabyte).

In-process, on this machine, the runs benchmark's graph at 16 runs at a time: about
1.5× the runs per second of the stock saver with durability `sync`, 1.2× with `async`
(`evals/bench_runs.py`, in-process rows). `tests/integration/test_checkpoint_saver.py`
checks that both savers write the same rows and that graphs read them back alike.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

BLOBS_FROM_ARRAYS = """
    SELECT %(thread_id)s, %(checkpoint_ns)s, b.channel, b.version, b.type, b.blob
    FROM unnest(%(channel)s::text[], %(version)s::text[], %(type)s::text[],
                %(blob)s::bytea[]) AS b(channel, version, type, blob)
"""
PUT_CHECKPOINT = """
WITH blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    {blobs}
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
)
"""
INSERT_CHECKPOINT = """
INSERT INTO checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
VALUES (%(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_id)s,
        %(checkpoint)s, %(metadata)s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""
"""`aput`: the checkpoint's new channel blobs (kept if already there) and the checkpoint."""
BLOB_SHARED = "%(thread_id)s, %(checkpoint_ns)s"
BLOB_CELLS = {"channel": 2, "version": 3, "type": 4, "blob": 5}
"""Where `_dump_blobs`' rows hold what differs between a checkpoint's blobs."""

WRITES_FROM_ARRAYS = """
SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s,
       w.idx, w.channel, w.type, w.blob
FROM unnest(%(idx)s::int[], %(channel)s::text[], %(type)s::text[], %(blob)s::bytea[])
    AS w(idx, channel, type, blob)
"""
PUT_WRITES = """
INSERT INTO checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
{rows}
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) {on_conflict}
"""
REPLACE = "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
"""Writes only to LangGraph's special channels (errors, interrupts...): the newest wins."""
KEEP = "DO NOTHING"
"""Any other task's writes: the first stored stays (a retried task writes them again)."""
WRITE_SHARED = "%(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s"
WRITE_CELLS = {"idx": 5, "channel": 6, "type": 7, "blob": 8}
"""Where `_dump_writes`' rows hold what differs between a task's writes."""

ROWS_AS_VALUES = 16
"""Most rows sent as a `VALUES` list (a statement text per count); more go as arrays."""


class OrcaPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` on a pool, its writes one statement each (see the module)."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], *, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(pool, serde=serde)
        self.lock = asyncio.Semaphore(pool.max_size)  # type: ignore[assignment]

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store the checkpoint and its changed channels' blobs; return its config."""
        configurable = config["configurable"]
        thread_id, checkpoint_ns = configurable["thread_id"], configurable["checkpoint_ns"]
        inline, blobs = _split_channels(checkpoint["channel_values"])
        stored = {**checkpoint, "channel_values": inline}
        rows = self._dump_blobs(
            thread_id,
            checkpoint_ns,
            blobs,
            {channel: v for channel, v in new_versions.items() if channel in blobs},
        )
        params = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint["id"],
            "parent_id": configurable.get("checkpoint_id"),
            "checkpoint": Jsonb(stored),
            "metadata": Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
            **_cells(rows, BLOB_CELLS),
        }
        async with self._cursor() as cursor:
            await cursor.execute(_put_checkpoint(len(rows)), params)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes on the checkpoint `config` names."""
        configurable = config["configurable"]
        rows = self._dump_writes(
            configurable["thread_id"],
            configurable["checkpoint_ns"],
            configurable["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        if not rows:
            return
        special = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        if special:
            # One special channel has one index, and one statement may update a row only
            # once: keep the last write of each, as writing them one by one does.
            rows = list({row[WRITE_CELLS["idx"]]: row for row in rows}.values())
        params = {
            "thread_id": configurable["thread_id"],
            "checkpoint_ns": configurable["checkpoint_ns"],
            "checkpoint_id": configurable["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
            **_cells(rows, WRITE_CELLS),
        }
        async with self._cursor() as cursor:
            await cursor.execute(_put_writes(len(rows), special), params)


def _split_channels(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split channel values as LangGraph does: primitives inline, the rest as blobs.

    A delta channel's snapshot goes to the blobs and leaves `True` inline in its place.
    """
    inline: dict[str, Any] = {}
    blobs: dict[str, Any] = {}
    for channel, value in values.items():
        if isinstance(value, _DeltaSnapshot):
            blobs[channel], inline[channel] = value, True
        elif value is None or isinstance(value, str | int | float | bool):
            inline[channel] = value
        else:
            blobs[channel] = value
    return inline, blobs


@functools.cache
def _put_checkpoint(blobs: int) -> str:
    """The statement of `aput` for a checkpoint with `blobs` blob rows."""
    if not blobs:
        return INSERT_CHECKPOINT
    rows = _rows(blobs, BLOB_SHARED, tuple(BLOB_CELLS), BLOBS_FROM_ARRAYS)
    return PUT_CHECKPOINT.format(blobs=rows) + INSERT_CHECKPOINT


@functools.cache
def _put_writes(writes: int, special: bool) -> str:
    """The statement of `aput_writes` for `writes` rows (`special`: the newest wins)."""
    rows = _rows(writes, WRITE_SHARED, tuple(WRITE_CELLS), WRITES_FROM_ARRAYS)
    return PUT_WRITES.format(rows=rows, on_conflict=REPLACE if special else KEEP)


def _rows(count: int, shared: str, cells: tuple[str, ...], from_arrays: str) -> str:
    """Return the rows part of an insert of `count` rows: a `VALUES` list, or the arrays'.

    Row i is `shared` (the placeholders every row repeats) then `%(<cell>i)s` per cell.
    """
    if count > ROWS_AS_VALUES:
        return from_arrays
    rows = (", ".join([shared, *(f"%({cell}{i})s" for cell in cells)]) for i in range(count))
    return "VALUES " + ", ".join(f"({row})" for row in rows)


def _cells(rows: Sequence[tuple[Any, ...]], cells: dict[str, int]) -> dict[str, Any]:
    """Name each row's cells for `_rows`: `<cell>i`, or one array per cell past the limit."""
    if len(rows) > ROWS_AS_VALUES:
        return {cell: [row[at] for row in rows] for cell, at in cells.items()}
    return {f"{cell}{i}": row[at] for i, row in enumerate(rows) for cell, at in cells.items()}
