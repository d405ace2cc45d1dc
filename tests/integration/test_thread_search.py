"""Thread search by containment, in the memory store, SQLite and PostgreSQL alike.

Beside `test_run_store.py` (whose fixtures it shares) to keep that file under 500 lines.
"""

from __future__ import annotations

from server.runs.records import RunStore, ThreadFilter
from tests.integration.test_run_store import store, stores  # noqa: F401 - fixtures


async def test_search_finds_nested_metadata_and_values_by_containment(
    store: RunStore,  # noqa: F811 - the fixture imported above
) -> None:
    """What the reference servers find: part of a nested object, some of a list's items."""
    metadata = {"user": {"name": "ana", "tags": ["a", "b"]}}
    values = {"messages": [{"type": "human", "content": "hi"}, {"type": "ai", "content": "yo"}]}
    await store.create_thread("n1", "alice", metadata, if_exists="raise")
    await store.set_thread_state("n1", status="idle", values=values)
    await store.create_thread("n2", "alice", {"user": {"name": "bo"}}, if_exists="raise")

    async def ids(where: ThreadFilter) -> list[str]:
        found = await store.search_threads(
            "alice", where, limit=10, offset=0, sort_by="thread_id", descending=False
        )
        return [thread.thread_id for thread in found]

    assert await ids(ThreadFilter(metadata={"user": {"name": "ana"}})) == ["n1"]
    assert await ids(ThreadFilter(metadata={"user": {"tags": ["b"]}})) == ["n1"]
    assert await ids(ThreadFilter(metadata={"user": {"tags": ["c"]}})) == []
    assert await ids(ThreadFilter(metadata={"user": {}})) == ["n1", "n2"]
    assert await ids(ThreadFilter(values={"messages": [{"content": "yo"}]})) == ["n1"]
    assert await ids(ThreadFilter(values={"messages": [{"content": "no"}]})) == []
    assert await store.count_threads("alice", ThreadFilter(metadata={"user": {"name": "bo"}})) == 1
