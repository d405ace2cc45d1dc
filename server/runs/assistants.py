"""Assistants: the registry's one per served graph, and the ones callers save (no I/O here).

A system assistant's id is `uuid5(NAMESPACE_GRAPH, graph_id)`, the derivation langgraph-api
uses for its default assistants, so a client that stored one keeps working after a move;
it is everyone's and read-only (a workflow's behaviour comes from code and settings).
A saved assistant is a graph with a saved `config`, `context` and `metadata`, owned by the
identity that created it, versioned: each `PATCH` adds a version and makes it the latest,
`set_latest` points back at an older one. The stores (`pg_assistants.py`,
`sqlite_assistants.py`) keep them; `RunsService.find_assistant` looks both kinds up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from uuid import UUID, uuid5

NAMESPACE_GRAPH = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
STARTED = datetime.now(UTC)
SYSTEM = {"created_by": "system"}
AssistantSort = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]


class AssistantExists(ValueError):
    """The assistant id is taken (409)."""


class AssistantReadOnly(PermissionError):
    """A system assistant cannot be changed or deleted (409)."""


@dataclass(frozen=True)
class Assistant:
    """An assistant as it is now (or one of its versions)."""

    assistant_id: str
    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    """Merged under a run's config (`configurable` key by key)."""
    context: dict[str, Any] = field(default_factory=dict)
    """Merged under a run's context."""
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    owner: str | None = None
    """Who saved it; None for the registry's system assistants."""
    created_at: datetime = STARTED
    updated_at: datetime = STARTED

    @classmethod
    def system(cls, graph_id: str, description: str) -> Assistant:
        """Return the default assistant of a served graph."""
        return cls(
            assistant_id=str(uuid5(NAMESPACE_GRAPH, graph_id)),
            graph_id=graph_id,
            name=graph_id,
            description=description,
            metadata=dict(SYSTEM),
        )

    @property
    def is_system(self) -> bool:
        """Whether it is the registry's (read-only, everyone's)."""
        return self.owner is None

    def public(self) -> dict[str, Any]:
        """Return it as `langgraph-sdk`'s `Assistant`."""
        return {**self.public_version(), "updated_at": self.updated_at.isoformat()}

    def public_version(self) -> dict[str, Any]:
        """Return it as `langgraph-sdk`'s `AssistantVersion`."""
        return {
            "assistant_id": self.assistant_id,
            "graph_id": self.graph_id,
            "name": self.name,
            "description": self.description,
            "config": self.config,
            "context": self.context,
            "metadata": self.metadata,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class AssistantChange:
    """What a `PATCH` sets; None leaves a field as it is (metadata merges key by key)."""

    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None

    def applied(self, to: Assistant, *, version: int, at: datetime) -> Assistant:
        """Return the new version `to` becomes."""
        return replace(
            to,
            graph_id=self.graph_id or to.graph_id,
            config=to.config if self.config is None else self.config,
            context=to.context if self.context is None else self.context,
            metadata={**to.metadata, **(self.metadata or {})},
            name=self.name or to.name,
            description=to.description if self.description is None else self.description,
            version=version,
            updated_at=at,
        )


@dataclass(frozen=True)
class AssistantFilter:
    """What `search` and `count` match: every given filter."""

    graph_id: str | None = None
    name: str | None = None
    """A case-insensitive substring of the name."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Exact value per key (a wanted None also matches a missing key), as for threads."""

    def matches(self, assistant: Assistant) -> bool:
        """Return whether the assistant passes (the stores test the same in SQL)."""
        return (
            (self.graph_id is None or assistant.graph_id == self.graph_id)
            and (self.name is None or self.name.lower() in assistant.name.lower())
            and all(assistant.metadata.get(k) == v for k, v in self.metadata.items())
        )


def sort_key(sort_by: AssistantSort) -> Any:
    """Return the key that orders assistants as the stores' SQL does (ties by id)."""

    def key(assistant: Assistant) -> tuple[Any, str]:
        return getattr(assistant, sort_by), assistant.assistant_id

    return key


def merge_config(saved: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """Return a run's config over its assistant's, as langgraph-api merges them.

    The run's keys win; `configurable` and `metadata` merge key by key (the run's over
    the assistant's) and `tags` add up, so a run changes one knob and keeps the rest.
    """
    given = dict(given or {})
    merged = {**saved, **given}
    for key in ("configurable", "metadata"):
        inner = {**_mapping(saved.get(key)), **_mapping(given.get(key))}
        if inner:
            merged[key] = inner
    tags = [*(saved.get("tags") or []), *(given.get("tags") or [])]
    if tags:
        merged["tags"] = list(dict.fromkeys(tags))
    return merged


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def as_uuid(key: str) -> str | None:
    """Return `key` as a canonical UUID string, or None when it is not one."""
    try:
        return str(UUID(key))
    except ValueError:
        return None


class AssistantStore(Protocol):
    """Saved assistants of every identity (PostgreSQL or the embedded SQLite file)."""

    async def setup(self) -> None:
        """Create what the store needs (PostgreSQL: migration 6 did)."""
        ...

    async def create(self, assistant: Assistant, *, if_exists: str) -> Assistant:
        """Save version 1; return the owner's existing one with `do_nothing`.

        Raises:
            AssistantExists: the id is taken (by anyone, with `raise`; by another
                identity, whatever `if_exists`).
        """
        ...

    async def get(self, assistant_id: str, owner: str) -> Assistant | None:
        """Return the owner's assistant."""
        ...

    async def update(
        self, assistant_id: str, owner: str, change: AssistantChange
    ) -> Assistant | None:
        """Add a version made of the latest one and `change`, and make it the latest."""
        ...

    async def delete(self, assistant_id: str, owner: str) -> bool:
        """Delete the owner's assistant and its versions."""
        ...

    async def versions(
        self, assistant_id: str, owner: str, *, metadata: dict[str, Any], limit: int, offset: int
    ) -> list[Assistant]:
        """Return the owner's assistant's versions, newest first."""
        ...

    async def set_latest(self, assistant_id: str, owner: str, version: int) -> Assistant | None:
        """Make `version` the assistant's current one (None when either is missing)."""
        ...

    async def search(
        self,
        owner: str,
        where: AssistantFilter,
        *,
        limit: int,
        offset: int,
        sort_by: AssistantSort,
        descending: bool,
    ) -> list[Assistant]:
        """Return the owner's matching assistants, sorted and paged."""
        ...

    async def count(self, owner: str, where: AssistantFilter) -> int:
        """Count the owner's matching assistants."""
        ...


class Assistants:
    """The system assistants, by graph name or UUID."""

    def __init__(self, descriptions: dict[str, str]) -> None:
        self.all = [Assistant.system(name, text) for name, text in descriptions.items()]
        self._by_key = {a.graph_id: a for a in self.all} | {a.assistant_id: a for a in self.all}

    def get(self, key: str) -> Assistant | None:
        """Return the assistant named or identified by `key`."""
        return self._by_key.get(key) or self._by_key.get(as_uuid(key) or key)
