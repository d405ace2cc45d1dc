"""Open the checkpointer that every graph of the process shares."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from psycopg import AsyncConnection, OperationalError, pq
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from checkpoints.locks import advisory_lock
from checkpoints.saver import OrcaPostgresSaver


@dataclass(frozen=True)
class CheckpointStore:
    """The saver plus what health checks need to know about it."""

    saver: BaseCheckpointSaver[str]
    kind: str
    """`postgres` or `sqlite`."""
    ping: Callable[[], Awaitable[None]]
    """Raise if the database cannot answer `SELECT 1`."""
    pool: Any = None
    """The PostgreSQL connection pool (for its size gauges); None with SQLite."""


SETUP_LOCK = 0x0C1A_0007
"""`pg_advisory_lock` key held while LangGraph's checkpoint tables are created or migrated."""

RECONNECT_TIMEOUT_S = 10.0
"""How long one reconnection attempt keeps backing off (psycopg_pool doubles its delay
from 1 s); then it gives up and the next request starts a fresh one. The default, 300 s,
let the delay grow to minutes, so the pool could take that long to notice a restarted
server."""


@dataclass(frozen=True)
class PoolLimits:
    """How the checkpointer's PostgreSQL pool behaves when the server is slow or gone."""

    max_size: int = 10
    timeout_s: float = 5.0
    """Longest wait for a connection: then `PoolTimeout` (a 503), never a hang."""
    max_waiting: int = 64
    """Requests that may queue for a connection; one more gets `TooManyRequests` (a 503)."""
    max_lifetime_s: float = 30 * 60
    """Connections are replaced after this, so none outlives a failover for long."""
    prepared_statements: bool = True
    """Let psycopg prepare a statement a connection has run `PREPARE_AFTER` times."""


PREPARE_AFTER = 5
"""psycopg's own threshold: one-off statements are never prepared, the hot ones soon are."""


def prepare_threshold(prepared_statements: bool) -> int | None:
    """Return psycopg's `prepare_threshold` for pools that may (or may not) prepare."""
    return PREPARE_AFTER if prepared_statements else None


def strict_serializer(allowed_types: Iterable[str] = ()) -> JsonPlusSerializer:
    """Return LangGraph's serializer in its strict msgpack mode.

    A checkpoint is read back only into LangGraph's allowlist of safe types (messages,
    documents, `Send`, `Interrupt`, dates, UUIDs...) plus `allowed_types`
    (`"module.Class"`, `ORCA_CHECKPOINT_ALLOWED_TYPES`): someone who can write to the
    checkpoint tables cannot make the server build arbitrary objects when it loads them.
    Another type in a graph's state is read back as plain data and logged by LangGraph
    ("Blocked deserialization of ...").
    """
    extra = tuple(tuple(name.rsplit(".", 1)) for name in allowed_types)
    return JsonPlusSerializer(allowed_msgpack_modules=extra or None)


@asynccontextmanager
async def open_checkpointer(
    *,
    postgres_url: str | None,
    sqlite_path: Path,
    pool_max: int = 10,
    limits: PoolLimits | None = None,
    allowed_types: Iterable[str] = (),
) -> AsyncIterator[CheckpointStore]:
    """Yield a ready checkpointer (tables created) and close its connections on exit."""
    serde = strict_serializer(allowed_types)
    if postgres_url:
        limits = limits or PoolLimits(max_size=pool_max)
        async with _open_postgres(postgres_url, limits, serde) as store:
            yield store
    else:
        async with _open_sqlite(sqlite_path, serde) as store:
            yield store


RECENTLY_USED_S = 0.5
"""A connection handed out this recently is handed out again unchecked (HikariCP's
`aliveBypassWindowMs`, same value): the check is a round trip on every checkout, and a
run makes several (runs benchmark: about 0.8 ms of each run's 6 ms at durability exit)."""


class RecentlyUsed:
    """Check a connection on checkout unless it was handed out within `RECENTLY_USED_S`.

    Only the checkout is timed, not the return: a pool with a `reset` callback gives every
    connection back through its maintenance task (a queue hop per statement, and a
    connection that waits there cannot be handed out). A connection that broke while in
    use is closed on return by the pool itself (its status is bad), so what a recent
    checkout vouches for is only the server's side, as a recent return would.
    """

    def __init__(self) -> None:
        self._handed_out: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def check(self, connection: AsyncConnection[Any]) -> None:
        """Pool `check` callback: a round trip, unless the connection was just in use.

        A connection still in pipeline mode is closed (the pool replaces it): a saver
        whose pipelined write was cancelled can give one back so, idle by its transaction
        status, and a statement run on it then returns no rows instead of its answer.
        """
        if connection.pgconn.pipeline_status != pq.PipelineStatus.OFF:
            await connection.close()  # closed, the pool drops it (a failed check alone
            # would give it back to the pool, which would hand it out again)
            raise OperationalError("the connection was given back in pipeline mode")
        now = time.monotonic()
        handed_out = self._handed_out.get(connection)
        self._handed_out[connection] = now
        if handed_out is not None and now - handed_out < RECENTLY_USED_S:
            return
        await AsyncConnectionPool.check_connection(connection)


@asynccontextmanager
async def _open_postgres(
    url: str, limits: PoolLimits, serde: JsonPlusSerializer
) -> AsyncIterator[CheckpointStore]:
    # What AsyncPostgresSaver needs of its connections: autocommit (it manages its own
    # transactions) and dict rows (it reads columns by name). Prepared statements spare
    # PostgreSQL parsing and planning the same few statements on every run (runs
    # benchmark: its CPU per run about halved); PgBouncer before 1.21, in transaction mode,
    # cannot route them, hence `ORCA_POSTGRES_PREPARED_STATEMENTS=false`. What survives a
    # restarted or killed server: a check on checkout (a dead connection is replaced, not
    # handed out), a bounded wait and queue (503s, not hangs), TCP keepalives and a
    # connect timeout (a vanished host is noticed), short reconnects.
    freshness = RecentlyUsed()
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=limits.max_size,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": prepare_threshold(limits.prepared_statements),
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
        check=freshness.check,
        timeout=limits.timeout_s,
        max_waiting=limits.max_waiting,
        max_lifetime=limits.max_lifetime_s,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = OrcaPostgresSaver(pool, serde=serde)
        # Several processes (`orca serve --workers N`, `orca worker`) may start on one fresh
        # database at once: LangGraph's migrations are not safe to run concurrently. The
        # lock is held on a connection of its own: `setup()` takes one from the pool, which
        # may hold only one (`ORCA_POSTGRES_POOL_MAX=1`).
        async with (
            await AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as connection,
            advisory_lock(connection, SETUP_LOCK),
        ):
            await saver.setup()

        async def ping() -> None:
            # A connection given back within RECENTLY_USED_S is handed out unchecked, so
            # the first ping after a database restart may get one the restart broke: its
            # error discards it, and the second try gets a checked (or new) connection.
            for attempt in (1, 2):
                try:
                    async with pool.connection(timeout=2) as connection:
                        await connection.execute("SELECT 1")
                    return
                except OperationalError:
                    if attempt == 2:
                        raise

        yield CheckpointStore(saver=saver, kind="postgres", ping=ping, pool=pool)
    finally:
        await pool.close()


@asynccontextmanager
async def _open_sqlite(path: Path, serde: JsonPlusSerializer) -> AsyncIterator[CheckpointStore]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(str(path)) as connection:
        saver = AsyncSqliteSaver(connection, serde=serde)
        await saver.setup()

        async def ping() -> None:
            async with saver.lock:
                await (await saver.conn.execute("SELECT 1")).fetchall()

        yield CheckpointStore(saver=saver, kind="sqlite", ping=ping)
