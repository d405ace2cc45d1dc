"""Request bodies of the assistants API, as `langgraph-sdk`'s `client.assistants.*` sends them.

Unknown fields are ignored (newer SDKs add some); a wrong value of a known one is a 422
that names it. `config` is LangGraph's `RunnableConfig`: an object whose `configurable` is
an object, `tags` a list of strings and `recursion_limit` a whole number.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from server.runs.assistants import AssistantSort
from server.runs.schema import Body, Offset

AssistantField = Literal[
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "created_at",
    "updated_at",
    "metadata",
    "version",
]
"""What `select` may name: `langgraph-sdk`'s `AssistantSelectField`."""
NAME_MAX = 1000
"""Longest name or description, in characters (a label, not a document)."""


def checked_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a config LangGraph could not run with; return it unchanged otherwise."""
    if config is None:
        return None
    configurable = config.get("configurable")
    if configurable is not None and not isinstance(configurable, dict):
        raise ValueError("config.configurable must be an object")
    tags = config.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ValueError("config.tags must be a list of strings")
    limit = config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError("config.recursion_limit must be a whole number of at least 1")
    return config


RunnableConfig = Annotated[dict[str, Any] | None, AfterValidator(checked_config)]


class AssistantCreate(Body):
    """`POST /assistants`."""

    graph_id: str = Field(min_length=1)
    assistant_id: str | None = None
    """A UUID; a new one when absent."""
    config: RunnableConfig = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = Field(default=None, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=NAME_MAX)


class AssistantPatch(Body):
    """`PATCH /assistants/{id}`: what is given replaces; metadata merges key by key."""

    graph_id: str | None = Field(default=None, min_length=1)
    config: RunnableConfig = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=NAME_MAX)


class AssistantSearch(Body):
    """`POST /assistants/search` and `/assistants/count`."""

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: AssistantSort = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[AssistantField] | None = None
    """Only these fields of each assistant (`assistants/search`)."""


class AssistantVersionsQuery(Body):
    """`POST /assistants/{id}/versions`."""

    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: Offset = 0


class AssistantLatest(Body):
    """`POST /assistants/{id}/latest`."""

    version: int = Field(ge=1)
