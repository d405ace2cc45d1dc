"""The checkpointer's pool prepares repeated statements unless told not to (PgBouncer)."""

import asyncio
from pathlib import Path

import pytest
from psycopg import pq

from checkpoints.open import PREPARE_AFTER, PoolLimits, open_checkpointer

pytestmark = pytest.mark.integration


async def prepared_after_repeats(postgres_url: str, tmp_path: Path, *, prepared: bool) -> int:
    """Run one statement past the threshold on a pooled connection; count what it prepared."""
    async with open_checkpointer(
        postgres_url=postgres_url,
        sqlite_path=tmp_path / "unused.sqlite",
        limits=PoolLimits(max_size=1, prepared_statements=prepared),
    ) as store:
        async with store.pool.connection() as connection:
            for _ in range(PREPARE_AFTER + 1):
                await connection.execute(
                    "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("x",)
                )
            cursor = await connection.execute(
                "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE %s",
                ("%FROM checkpoints WHERE thread_id%",),
            )
            row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def test_a_repeated_statement_is_prepared_by_default_even_in_a_pool_of_one(
    postgres_url: str, tmp_path: Path
) -> None:
    assert await prepared_after_repeats(postgres_url, tmp_path, prepared=True) == 1


async def test_prepared_statements_can_be_turned_off_for_pgbouncer(
    postgres_url: str, tmp_path: Path
) -> None:
    assert await prepared_after_repeats(postgres_url, tmp_path, prepared=False) == 0


async def test_a_connection_given_back_in_pipeline_mode_is_not_handed_out_again(
    postgres_url: str, tmp_path: Path
) -> None:
    """A saver's pipelined write cancelled midway can give its connection back in pipeline
    mode, idle by its transaction status: the next statement on it returned no rows (a run
    insertion read `rows[0]` of nothing: a 500)."""
    async with open_checkpointer(
        postgres_url=postgres_url,
        sqlite_path=tmp_path / "unused.sqlite",
        limits=PoolLimits(max_size=1),
    ) as store:
        async with store.pool.connection() as connection:
            connection.pgconn.enter_pipeline_mode()
        async with store.pool.connection(timeout=5) as connection:
            assert connection.pgconn.pipeline_status == pq.PipelineStatus.OFF
            cursor = await asyncio.wait_for(connection.execute("SELECT 1 AS one"), timeout=5)
            assert await cursor.fetchall() == [{"one": 1}]


async def test_checkpoint_operations_use_the_pool_at_once_not_one_after_another(
    postgres_url: str, tmp_path: Path
) -> None:
    """AsyncPostgresSaver held one lock around every operation even on a pool (langgraph
    #7259): a reader part-way through a thread's history held it, and any other run's
    checkpoint read or write waited for it; here it waited for ever."""
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict):
        n: int

    builder: StateGraph[State] = StateGraph(State)
    builder.add_node("step", lambda state: {"n": state["n"] + 1})
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    async with open_checkpointer(
        postgres_url=postgres_url,
        sqlite_path=tmp_path / "unused.sqlite",
        limits=PoolLimits(max_size=3),
    ) as store:
        graph = builder.compile(checkpointer=store.saver)
        first: RunnableConfig = {"configurable": {"thread_id": "pool-a"}}
        await graph.ainvoke({"n": 0}, first)
        history = store.saver.alist(first)
        assert await anext(history) is not None  # holds its connection until it is closed
        try:
            other: RunnableConfig = {"configurable": {"thread_id": "pool-b"}}
            answer = await asyncio.wait_for(graph.ainvoke({"n": 5}, other), timeout=30)
            assert answer == {"n": 6}
        finally:
            await history.aclose()
