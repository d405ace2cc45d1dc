"""One assistant per served graph, addressable by graph name or by a stable UUID.

The UUID is `uuid5(NAMESPACE_GRAPH, graph_id)`, the same derivation langgraph-api uses
for its default assistants, so a client that stored one keeps working after a move.
Assistants are read-only here: a workflow's behaviour comes from code and settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

NAMESPACE_GRAPH = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
STARTED = datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Assistant:
    """The default assistant of one graph."""

    graph_id: str
    description: str

    @property
    def assistant_id(self) -> str:
        """Return the stable UUID."""
        return str(uuid5(NAMESPACE_GRAPH, self.graph_id))

    def public(self) -> dict[str, Any]:
        """Return it as `langgraph-sdk`'s `Assistant`."""
        return {
            "assistant_id": self.assistant_id,
            "graph_id": self.graph_id,
            "name": self.graph_id,
            "description": self.description,
            "config": {},
            "context": {},
            "metadata": {"created_by": "system"},
            "version": 1,
            "created_at": STARTED,
            "updated_at": STARTED,
        }


class Assistants:
    """Look assistants up by name or UUID."""

    def __init__(self, descriptions: dict[str, str]) -> None:
        self.all = [Assistant(name, text) for name, text in descriptions.items()]
        self._by_key = {a.graph_id: a for a in self.all} | {a.assistant_id: a for a in self.all}

    def get(self, key: str) -> Assistant | None:
        """Return the assistant named or identified by `key`."""
        return self._by_key.get(key)

    def search(
        self, *, graph_id: str | None, name: str | None, metadata: dict[str, Any] | None
    ) -> list[Assistant]:
        """Return the assistants matching every given filter."""
        return [
            a
            for a in self.all
            if (graph_id is None or a.graph_id == graph_id)
            and (name is None or name.lower() in a.graph_id.lower())
            and all(a.public()["metadata"].get(k) == v for k, v in (metadata or {}).items())
        ]
