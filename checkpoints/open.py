"""Open the checkpointer that every graph of the process shares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


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


@asynccontextmanager
async def open_checkpointer(
    *, postgres_url: str | None, sqlite_path: Path, pool_max: int = 10
) -> AsyncIterator[CheckpointStore]:
    """Yield a ready checkpointer (tables created) and close its connections on exit."""
    if postgres_url:
        async with _open_postgres(postgres_url, pool_max) as store:
            yield store
    else:
        async with _open_sqlite(sqlite_path) as store:
            yield store


@asynccontextmanager
async def _open_postgres(url: str, pool_max: int) -> AsyncIterator[CheckpointStore]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    # What AsyncPostgresSaver needs of its connections: autocommit (it manages its own
    # transactions), dict rows (it reads columns by name), and no server-side prepared
    # statements, which break behind PgBouncer in transaction mode.
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=pool_max,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
        check=AsyncConnectionPool.check_connection,
        max_lifetime=30 * 60,
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()

        async def ping() -> None:
            async with pool.connection(timeout=2) as connection:
                await connection.execute("SELECT 1")

        yield CheckpointStore(saver=saver, kind="postgres", ping=ping, pool=pool)
    finally:
        await pool.close()


@asynccontextmanager
async def _open_sqlite(path: Path) -> AsyncIterator[CheckpointStore]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()

        async def ping() -> None:
            async with saver.lock:
                await (await saver.conn.execute("SELECT 1")).fetchall()

        yield CheckpointStore(saver=saver, kind="sqlite", ping=ping)
