"""JSON containment, as PostgreSQL's `jsonb @>`: what a thread search's filters mean.

`/threads/search` with `metadata` or `values` matches a thread whose document contains the
filter: an object contains another when it has each of its keys with a value containing the
wanted one, an array when each wanted element is contained in one of its elements, and any
other value only an equal one (`true` is not `1`). langgraph-api answers the same on
PostgreSQL (`@>`), and its JS server by the same recursion: `{"user": {"name": "ana"}}`
finds a thread whose `user` also has tags, `{"tags": ["a"]}` one tagged `["a", "b"]`. The
memory and SQLite stores test it here; PostgreSQL's `@>` does it itself.
"""

from __future__ import annotations

from typing import Any


def contains(document: Any, wanted: Any) -> bool:
    """Whether `document` contains `wanted` (`jsonb @>`, without its top-level scalar rule)."""
    if isinstance(wanted, dict):
        return isinstance(document, dict) and all(
            key in document and contains(document[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(document, list) and all(
            any(contains(item, one) for item in document) for one in wanted
        )
    if isinstance(wanted, bool) or isinstance(document, bool):
        return type(document) is type(wanted) and document == wanted
    if isinstance(wanted, int | float):
        return isinstance(document, int | float) and document == wanted
    return type(document) is type(wanted) and document == wanted
