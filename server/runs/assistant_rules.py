"""The rules of the assistants API; the routes only translate HTTP.

Who sees what: an identity sees the registry's system assistants and the ones it saved;
another identity's is missing (404), and a system assistant cannot be changed (409). The
project's `@auth.on.assistants` rules (`ORCA_AUTH_PATH`, `server/runs/authorized_assistants.py`)
narrow that further. What a saved assistant may hold: a served graph, a config LangGraph can
run with, and a context that the graph's context schema (and, for Orca's own `Context`, the
run policy) accepts.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Any

from server.auth.identity import Identity
from server.auth.langgraph_auth import authorize
from server.runs.assistant_bodies import (
    AssistantCreate,
    AssistantPatch,
    AssistantSearch,
    AssistantVersionsQuery,
)
from server.runs.assistants import (
    Assistant,
    AssistantChange,
    AssistantExists,
    AssistantFilter,
    AssistantReadOnly,
    AssistantStore,
    as_uuid,
    sort_key,
)
from server.runs.authorized_assistants import SEARCH_ALL, narrowed_search, shown
from server.runs.records import ThreadFilter
from server.runs.service import NotFound, RunRejected, RunsService

DELETE_PAGE = 100
"""Threads deleted per page with `delete_threads`."""


def _saved(runs: RunsService) -> AssistantStore:
    if runs.saved is None:
        raise RunRejected("this server keeps no saved assistants")
    return runs.saved


async def _own(
    runs: RunsService,
    identity: Identity,
    key: str,
    action: str,
    value: dict[str, Any] | None = None,
) -> Assistant:
    """Return the caller's saved assistant `key`; a system one is read-only (409).

    The project's `assistants.<action>` rule is asked first (it may change `value`).
    """
    found, _ = await runs.assistant_for(identity, key, action, value)
    if found.is_system:
        raise AssistantReadOnly(
            f"assistant {found.assistant_id!r} is the system assistant of graph "
            f"{found.graph_id!r} and cannot be changed or deleted; create your own with "
            "POST /assistants"
        )
    return found


def _checked(runs: RunsService, identity: Identity, graph_id: str, context: Any) -> None:
    """Refuse a graph that is not served, or a context its schema does not accept."""
    if graph_id not in runs.graphs:
        raise NotFound(f"no graph {graph_id!r}; use one of {sorted(runs.graphs)}")
    runs.context_for(runs.graphs[graph_id], context, identity)


async def create_assistant(
    runs: RunsService, identity: Identity, body: AssistantCreate
) -> Assistant:
    """Save an assistant for the caller (version 1)."""
    store = _saved(runs)
    assistant_id = str(uuid.uuid4())
    if body.assistant_id is not None:
        assistant_id = as_uuid(body.assistant_id) or ""
        if not assistant_id:
            raise RunRejected(f"assistant_id must be a UUID, not {body.assistant_id!r}")
    value: dict[str, Any] = {
        "assistant_id": assistant_id,
        "graph_id": body.graph_id,
        "config": dict(body.config or {}),
        "context": dict(body.context or {}),
        "metadata": dict(body.metadata or {}),
        "if_exists": body.if_exists,
        "name": body.name,
    }
    filters = await authorize(identity, "assistants", "create", value)
    system = runs.assistants.get(assistant_id)
    if system is not None:
        if body.if_exists == "do_nothing" and shown(system, filters):
            return system
        raise AssistantReadOnly(f"assistant {assistant_id!r} is the system assistant of a graph")
    _checked(runs, identity, body.graph_id, body.context)
    assistant = Assistant(
        assistant_id=assistant_id,
        graph_id=body.graph_id,
        name=body.name or "Untitled",
        description=body.description,
        config=dict(body.config or {}),
        context=dict(body.context or {}),
        metadata=dict(value.get("metadata") or {}),  # as the project's rule left it
        owner=identity.id,
    )
    created = await store.create(assistant, if_exists=body.if_exists)
    if not shown(created, filters):  # the caller's existing one, hidden by the rule
        raise AssistantExists(assistant_id)
    return created


async def update_assistant(
    runs: RunsService, identity: Identity, key: str, body: AssistantPatch
) -> Assistant:
    """Add a version of the caller's assistant and make it the latest."""
    value: dict[str, Any] = body.model_dump(exclude_unset=True)
    current = await _own(runs, identity, key, "update", value)
    metadata = value.get("metadata")  # as the project's rule left it
    change = AssistantChange(
        graph_id=body.graph_id,
        config=body.config,
        context=body.context,
        metadata=dict(metadata) if isinstance(metadata, dict) else body.metadata,
        name=body.name,
        description=body.description,
    )
    new = change.applied(current, version=current.version, at=current.updated_at)
    _checked(runs, identity, new.graph_id, new.context)
    updated = await _saved(runs).update(current.assistant_id, identity.id, change)
    if updated is None:  # deleted meanwhile
        raise NotFound(f"no assistant {key!r}")
    return updated


async def delete_assistant(
    runs: RunsService, identity: Identity, key: str, *, delete_threads: bool
) -> None:
    """Delete the caller's assistant (and, if asked, the caller's threads it ran on)."""
    assistant = await _own(runs, identity, key, "delete")
    if delete_threads:
        where = ThreadFilter(metadata={"assistant_id": assistant.assistant_id})
        found: list[str] = []
        while page := await runs.search_threads(
            identity,
            where,
            limit=DELETE_PAGE,
            offset=len(found),
            sort_by="created_at",
            descending=False,
        ):
            found += [thread.thread_id for thread in page]
        for thread_id in found:
            with suppress(NotFound):  # deleted meanwhile, or the project's auth keeps it
                await runs.delete_thread(identity, thread_id)
    if not await _saved(runs).delete(assistant.assistant_id, identity.id):
        raise NotFound(f"no assistant {key!r}")


async def assistant_versions(
    runs: RunsService, identity: Identity, key: str, body: AssistantVersionsQuery
) -> list[Assistant]:
    """Return the versions of an assistant, newest first (a system one has only its one).

    Versions whose metadata the project's `assistants.read` filters do not match are left
    out, as langgraph-api does.
    """
    found, filters = await runs.assistant_for(identity, key)
    if found.is_system:
        where = AssistantFilter(metadata=dict(body.metadata or {}))
        return [found][body.offset : body.offset + body.limit] if where.matches(found) else []
    if not filters:
        return await _saved(runs).versions(
            found.assistant_id,
            identity.id,
            metadata=dict(body.metadata or {}),
            limit=body.limit,
            offset=body.offset,
        )
    every = await _saved(runs).versions(
        found.assistant_id,
        identity.id,
        metadata=dict(body.metadata or {}),
        limit=SEARCH_ALL,
        offset=0,
    )
    return [v for v in every if shown(v, filters)][body.offset : body.offset + body.limit]


async def set_latest(runs: RunsService, identity: Identity, key: str, version: int) -> Assistant:
    """Make an earlier (or later) version the caller's assistant's current one."""
    current = await _own(runs, identity, key, "update", {"version": version})
    updated = await _saved(runs).set_latest(current.assistant_id, identity.id, version)
    if updated is None:
        raise NotFound(f"assistant {key!r} has no version {version}")
    return updated


async def search_assistants(
    runs: RunsService, identity: Identity, body: AssistantSearch
) -> list[Assistant]:
    """Return the system assistants and the caller's that match, sorted and paged.

    The project's `assistants.search` filters narrow the match: equalities in the stores'
    SQL, a `$contains` here over every match of the rest.
    """
    where, rest = await narrowed_search(
        identity, _filter(body), limit=body.limit, offset=body.offset
    )
    if where is None:
        return []
    system = [a for a in runs.assistants.all if where.matches(a) and shown(a, rest)]
    saved: list[Assistant] = []
    if runs.saved is not None:
        # The page of the merged order needs at most `offset + limit` saved ones.
        saved = await runs.saved.search(
            identity.id,
            where,
            limit=SEARCH_ALL if rest else body.offset + body.limit,
            offset=0,
            sort_by=body.sort_by,
            descending=body.sort_order == "desc",
        )
        saved = [a for a in saved if shown(a, rest)]
    merged = sorted(
        [*system, *saved], key=sort_key(body.sort_by), reverse=body.sort_order == "desc"
    )
    return merged[body.offset : body.offset + body.limit]


async def count_assistants(runs: RunsService, identity: Identity, body: AssistantSearch) -> int:
    """Count the system assistants and the caller's that match (the search's filters too)."""
    where, rest = await narrowed_search(identity, _filter(body), limit=SEARCH_ALL, offset=0)
    if where is None:
        return 0
    system = sum(1 for a in runs.assistants.all if where.matches(a) and shown(a, rest))
    if runs.saved is None:
        return system
    if not rest:
        return system + await runs.saved.count(identity.id, where)
    every = await runs.saved.search(
        identity.id, where, limit=SEARCH_ALL, offset=0, sort_by="created_at", descending=False
    )
    return system + sum(1 for a in every if shown(a, rest))


def _filter(body: AssistantSearch) -> AssistantFilter:
    return AssistantFilter(
        graph_id=body.graph_id, name=body.name, metadata=dict(body.metadata or {})
    )
