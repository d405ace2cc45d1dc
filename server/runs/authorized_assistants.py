"""The project's `@auth.on.assistants` rules (`ORCA_AUTH_PATH`), for the assistants API.

Orca's own rule comes first and always holds: a saved assistant is its identity's. The
project's handlers then narrow it (their filters must match an assistant's metadata, or
it is 404 and left out of searches and counts), stamp what is stored (`metadata.owner` on
create), or refuse (403). What each action hands the handler, as langgraph-api does:

- `assistants.create`: `assistant_id`, `graph_id`, `config`, `context`, `metadata`,
  `if_exists`, `name` (what it leaves in `metadata` is stored);
- `assistants.read` (get, graph, schemas, subgraphs, versions; a run naming a saved
  assistant by id): `assistant_id`;
- `assistants.update` (PATCH, set latest): `assistant_id`, the changed fields (what it
  leaves in `metadata` is merged) or `version`;
- `assistants.delete`: `assistant_id`;
- `assistants.search` (search, count): `graph_id`, `metadata`, `limit`, `offset`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from server.auth.identity import Identity
from server.auth.langgraph_auth import Filters, authorize, matches
from server.auth.langgraph_auth.authorize import equality_part
from server.runs.assistants import Assistant, AssistantFilter

SEARCH_ALL = 1_000_000
"""Page size when a `$contains` filter is matched here rather than by the store."""


async def assistant_filters(
    identity: Identity, action: str, assistant_id: str, **more: Any
) -> Filters | None:
    """Authorize `assistants.<action>` on one assistant; return the filters it must match."""
    return await authorize(identity, "assistants", action, {"assistant_id": assistant_id, **more})


def shown(assistant: Assistant, filters: Filters | None) -> bool:
    """Return whether the assistant's metadata satisfy the handler's filters."""
    return matches(assistant.metadata, filters)


async def narrowed_search(
    identity: Identity, where: AssistantFilter, *, limit: int, offset: int
) -> tuple[AssistantFilter | None, Filters]:
    """Authorize `assistants.search`; return the search narrowed by its filters.

    Equalities join the search's own metadata (so the stores match them in SQL); the rest
    (`$contains`) is returned to be matched here. None: the caller asked for another value
    of a filtered key, so nothing can match.
    """
    value: dict[str, Any] = {
        "graph_id": where.graph_id,
        "metadata": dict(where.metadata),
        "limit": limit,
        "offset": offset,
    }
    filters = await authorize(identity, "assistants", "search", value)
    metadata = dict(value.get("metadata") or {})
    equal, rest = equality_part(filters)
    for key, wanted in equal.items():
        if key in metadata and metadata[key] != wanted:
            return None, rest
        metadata[key] = wanted
    return replace(where, metadata=metadata), rest
