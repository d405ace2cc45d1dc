"""Assistants as values: a run's config over its assistant's, a patch, the system ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.runs.assistants import (
    NAMESPACE_GRAPH,
    Assistant,
    AssistantChange,
    AssistantFilter,
    Assistants,
    merge_config,
)

SAVED = Assistant(
    assistant_id=str(uuid.uuid4()),
    graph_id="echo",
    name="Echo",
    config={"configurable": {"style": "terse", "user": "a"}, "tags": ["saved"]},
    context={"model": "large"},
    metadata={"team": "x", "stage": "one"},
    owner="ana",
)


def test_a_runs_config_goes_over_its_assistants_key_by_key() -> None:
    merged = merge_config(
        SAVED.config,
        {"configurable": {"user": "b"}, "tags": ["run", "saved"], "recursion_limit": 5},
    )
    assert merged == {
        "configurable": {"style": "terse", "user": "b"},
        "tags": ["saved", "run"],
        "recursion_limit": 5,
    }
    assert merge_config({}, None) == {}
    assert merge_config(SAVED.config, None) == SAVED.config


def test_a_patch_replaces_what_it_gives_and_merges_metadata() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    new = AssistantChange(context={"model": "huge"}, metadata={"stage": "two"}).applied(
        SAVED, version=2, at=at
    )
    assert (new.version, new.updated_at, new.created_at) == (2, at, SAVED.created_at)
    assert new.context == {"model": "huge"}
    assert new.metadata == {"team": "x", "stage": "two"}
    assert (new.config, new.name, new.graph_id) == (SAVED.config, "Echo", "echo")
    cleared = AssistantChange(context={}, description="").applied(SAVED, version=3, at=at)
    assert (cleared.context, cleared.description) == ({}, "")


def test_filters_match_as_the_stores_do() -> None:
    assert AssistantFilter(name="ECH", metadata={"team": "x"}).matches(SAVED)
    assert AssistantFilter(metadata={"missing": None}).matches(SAVED)
    assert not AssistantFilter(metadata={"team": ["x"]}).matches(SAVED)
    assert not AssistantFilter(graph_id="rag").matches(SAVED)


def test_system_assistants_are_found_by_name_and_by_any_spelling_of_their_uuid() -> None:
    registry = Assistants({"echo": "Echoes."})
    expected = str(uuid.uuid5(NAMESPACE_GRAPH, "echo"))
    assert registry.get("echo") is registry.get(expected) is registry.get(expected.upper())
    found = registry.get("echo")
    assert (
        found is not None
        and found.is_system
        and found.public()["metadata"] == {"created_by": "system"}
    )
    assert registry.get("rag") is None and not SAVED.is_system
