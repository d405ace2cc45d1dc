"""The project's `@auth.on` rules for threads and runs (`ORCA_AUTH_PATH`), for `RunsService`.

Orca's own rule comes first and always holds: a caller sees only the threads its identity
owns. The project's handlers then narrow it (their filters must match a thread's metadata,
or it is 404 and left out of searches), stamp what is stored (`metadata.owner` on create),
or refuse (403). What each action hands the handler, as langgraph-api does:

- creating a thread, and a run's new thread on every surface: `threads.create`, with
  `thread_id`, `metadata`, `if_exists`;
- getting a thread, its state, history, runs, a run or a stream: `threads.read`, with
  `thread_id` (and `run_id`);
- patching a thread, updating its state, cancelling a run, keeping only its latest state
  (`/threads/prune` `keep_latest`): `threads.update`, with `thread_id`, `metadata` (or
  `run_id`); cancelling runs by status: `threads.update` once, with `thread_id` None,
  `action` and `metadata.status`, its filters matched against each run's thread;
- deleting a thread or a run (`/threads/prune` `delete` too): `threads.delete`, with
  `thread_id` (and `run_id`);
- searching or counting threads: `threads.search`, with `metadata`, `values`, `status`,
  `limit`, `offset`;
- starting a run (runs API, LangServe, AG-UI): `threads.create_run`, with `thread_id`,
  `assistant_id`, `metadata`, `multitask_strategy`, `if_not_exists`, `after_seconds`,
  `kwargs`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from server.auth.identity import Identity
from server.auth.langgraph_auth import Filters, authorize, matches
from server.auth.langgraph_auth.authorize import equality_part
from server.runs.lookup import NotFound
from server.runs.records import RunRecord, RunStore, ThreadFilter, ThreadRecord
from server.runs.schema import RunCreate

SEARCH_ALL = 1_000_000
"""Page size when a `$contains` filter is matched here rather than by the store."""


async def thread_filters(
    identity: Identity, action: str, thread_id: str, **more: Any
) -> Filters | None:
    """Authorize `threads.<action>` on one thread; return the filters it must match."""
    return await authorize(identity, "threads", action, {"thread_id": thread_id, **more})


async def stamped_metadata(
    identity: Identity, thread_id: str, metadata: dict[str, Any], if_exists: str
) -> tuple[dict[str, Any], Filters | None]:
    """Authorize `threads.create`; return the metadata to store (as the handler left it)."""
    value: dict[str, Any] = {
        "thread_id": thread_id,
        "metadata": dict(metadata),
        "if_exists": if_exists,
    }
    filters = await authorize(identity, "threads", "create", value)
    return dict(value.get("metadata") or {}), filters


def run_value(
    body: RunCreate, thread_id: str | None, assistant_id: str, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Return what `threads.create_run` sees of a run (only its `metadata` changes are kept)."""
    return {
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "status": "pending",
        "metadata": dict(body.metadata or {}),
        "multitask_strategy": body.multitask_strategy,
        "if_not_exists": body.if_not_exists,
        "after_seconds": body.after_seconds,
        "kwargs": dict(kwargs),
    }


async def visible_thread(
    store: RunStore, identity: Identity, thread_id: str, filters: Filters | None
) -> ThreadRecord | None:
    """Return the identity's thread when its metadata match the filters, else None."""
    thread = await store.get_thread(thread_id, identity.id)
    return thread if thread is not None and matches(thread.metadata, filters) else None


async def thread_for_run(
    store: RunStore,
    identity: Identity,
    thread_id: str,
    filters: Filters | None,
    if_not_exists: str | None,
) -> ThreadRecord | None:
    """Return the identity's thread a run names; None when the run is to create it.

    Raises:
        NotFound: no such thread of the identity and none to create, or one the project's
            rule hides from the run.
    """
    found = await visible_thread(store, identity, thread_id, filters)
    if found is not None:
        return found
    if if_not_exists != "create":
        raise NotFound(f"no thread {thread_id!r}")
    # Made since by a run that asked the same at once (answered 404 before), or hidden.
    found = await store.get_thread(thread_id, identity.id)
    if found is not None and not matches(found.metadata, filters):
        raise NotFound(f"no thread {thread_id!r}")
    return found


async def search_threads(
    store: RunStore,
    identity: Identity,
    where: ThreadFilter,
    *,
    limit: int,
    offset: int,
    sort_by: str,
    descending: bool,
) -> list[ThreadRecord]:
    """Return the identity's threads that match the search and the `threads.search` filters.

    Equalities go to the store with the search's own metadata; a `$contains` filter is
    matched here over every match of the rest, then paged.
    """
    narrowed, rest = await _narrowed(identity, where, limit=limit, offset=offset)
    if narrowed is None:
        return []
    if not rest:
        return await store.search_threads(
            identity.id,
            narrowed,
            limit=limit,
            offset=offset,
            sort_by=sort_by,
            descending=descending,
        )
    every = await store.search_threads(
        identity.id, narrowed, limit=SEARCH_ALL, offset=0, sort_by=sort_by, descending=descending
    )
    return [thread for thread in every if matches(thread.metadata, rest)][offset : offset + limit]


async def count_threads(store: RunStore, identity: Identity, where: ThreadFilter) -> int:
    """Count the identity's threads that match the search and the `threads.search` filters."""
    narrowed, rest = await _narrowed(identity, where, limit=SEARCH_ALL, offset=0)
    if narrowed is None:
        return 0
    if not rest:
        return await store.count_threads(identity.id, narrowed)
    every = await store.search_threads(
        identity.id, narrowed, limit=SEARCH_ALL, offset=0, sort_by="created_at", descending=False
    )
    return sum(1 for thread in every if matches(thread.metadata, rest))


async def _narrowed(
    identity: Identity, where: ThreadFilter, *, limit: int, offset: int
) -> tuple[ThreadFilter | None, Filters]:
    """Return the search with the handler's changes and equalities (None: nothing can match)."""
    value: dict[str, Any] = {
        "metadata": dict(where.metadata),
        "values": dict(where.values),
        "status": where.status,
        "limit": limit,
        "offset": offset,
    }
    filters = await authorize(identity, "threads", "search", value)
    metadata = dict(value.get("metadata") or {})
    equal, rest = equality_part(filters)
    for key, wanted in equal.items():
        if key in metadata and metadata[key] != wanted:
            return None, rest  # the caller asked for another value than the rule allows
        metadata[key] = wanted
    return replace(where, metadata=metadata), rest


async def runs_to_cancel(
    store: RunStore, identity: Identity, status: str, statuses: tuple[str, ...], action: str
) -> list[RunRecord]:
    """Return the identity's runs to cancel by status, on threads `threads.update` allows.

    Asked once, as langgraph-api asks for a cancel: `thread_id` None, `action`, and
    `metadata` holding the `status` asked for; its filters must match each run's thread.
    """
    value: dict[str, Any] = {"thread_id": None, "action": action, "metadata": {"status": status}}
    filters = await authorize(identity, "threads", "update", value)
    found = await store.runs_with_status(identity.id, statuses)
    if not filters:
        return found
    allowed: dict[str, bool] = {}
    for run in found:
        if run.thread_id not in allowed:
            thread = await visible_thread(store, identity, run.thread_id, filters)
            allowed[run.thread_id] = thread is not None
    return [run for run in found if allowed[run.thread_id]]
