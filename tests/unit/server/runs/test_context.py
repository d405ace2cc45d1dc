"""A run's context: defaults, the assistant's saved values and the run's, for any graph."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from graphs.context import Context
from server.auth.identity import ANONYMOUS, Identity
from server.run_policy import RunPolicy
from server.runs.context import (
    ContextRefused,
    coerce,
    executed_context,
    fields_of,
    run_context,
    with_auth_user,
)
from tests.doubles.context_graph import EchoContext, build_graph

ANA = Identity(id="ana", kind="api_key")
POLICY = RunPolicy(
    defaults=Context(), chat_models=("llm-01", "llm-02"), embedding_models=("embed-01",)
)
DEFAULTS = {"model": "small", "temperature": 0.0, "user": "anonymous"}


def executed(schema: Any, **layers: Any) -> Any:
    """Build the context as a run's creation stores it, through JSON, as execution reads it."""
    stored = run_context(schema, POLICY, ANA, **layers)
    return executed_context(schema, json.loads(json.dumps(stored)))


@pytest.mark.parametrize(
    "layers",
    [
        {},
        {"run_context": None},
        {"run_context": {}},
        {"run_config": {"configurable": {"thread_id": "t-1", "checkpoint_ns": ""}}},
    ],
)
def test_a_dataclass_context_absent_or_empty_gets_its_defaults(layers: dict[str, Any]) -> None:
    assert executed(EchoContext, **layers) == EchoContext()


def test_configurable_values_that_name_fields_reach_the_context() -> None:
    got = executed(EchoContext, run_config={"configurable": {"model": "big", "style": "terse"}})
    assert got == EchoContext(model="big")


def test_the_run_context_wins_over_its_configurable() -> None:
    got = executed(
        EchoContext,
        run_context={"model": "from-context"},
        run_config={"configurable": {"model": "from-config", "user": "ann"}},
    )
    assert got == EchoContext(model="from-context", user="ann")


def test_an_assistants_saved_context_merges_under_the_runs() -> None:
    got = executed(
        EchoContext,
        run_context={"temperature": 0.5},
        run_config={"configurable": {"user": "run-config"}},
        assistant_context={"model": "saved", "user": "saved"},
        assistant_config={"configurable": {"model": "saved-config", "temperature": 0.9}},
    )
    # Lowest first: the assistant's configurable, its context, the run's configurable, its context.
    assert got == EchoContext(model="saved", temperature=0.5, user="run-config")


def test_a_context_key_that_names_no_field_is_refused() -> None:
    with pytest.raises(ContextRefused, match=r"\['colour'\].*\['model', 'temperature', 'user'\]"):
        run_context(EchoContext, POLICY, ANA, run_context={"colour": "red"})
    with pytest.raises(ContextRefused, match="colour"):
        run_context(EchoContext, POLICY, ANA, assistant_context={"colour": "red"})


def test_a_required_field_left_out_is_refused_when_the_run_is_made() -> None:
    @dataclass
    class Needs:
        api_base: str
        retries: int = 2

    with pytest.raises(ContextRefused, match="api_base"):
        run_context(Needs, POLICY, ANA)
    assert executed(Needs, run_context={"api_base": "http://x"}) == Needs("http://x")


def test_a_pydantic_context_is_validated_and_gets_its_defaults() -> None:
    class Knobs(BaseModel):
        top_k: int = 3
        name: str = "n"

    assert executed(Knobs) == Knobs()
    assert executed(Knobs, run_context={"top_k": "7"}) == Knobs(top_k=7)
    with pytest.raises(ContextRefused, match="top_k"):
        run_context(Knobs, POLICY, ANA, run_context={"top_k": "many"})


def test_a_typeddict_or_schemaless_context_is_the_mapping() -> None:
    class Knobs(TypedDict, total=False):
        style: str

    assert fields_of(Knobs) == frozenset({"style"})
    assert executed(Knobs) == {}
    assert executed(Knobs, run_config={"configurable": {"style": "x", "other": 1}}) == {
        "style": "x"
    }
    assert fields_of(None) is None
    assert executed(None) is None
    assert executed(None, run_context={"anything": 1}) == {"anything": 1}
    assert coerce(None, {}) is None


def test_orcas_own_context_goes_through_the_run_policy() -> None:
    stored = run_context(
        Context,
        POLICY,
        ANA,
        run_config={"configurable": {"top_k": 9, "tenant": "someone-else"}},
        assistant_context={"chat_model": "llm-02"},
    )
    got = executed_context(Context, json.loads(json.dumps(stored)))
    assert (got.top_k, got.chat_model, got.tenant) == (9, "llm-02", "ana")  # tenant: the caller's
    assert executed(Context) == Context(tenant="ana")
    with pytest.raises(ContextRefused, match="chat_model"):
        run_context(Context, POLICY, ANA, run_context={"chat_model": "gpt-9"})
    with pytest.raises(ContextRefused, match="tenant"):
        run_context(Context, POLICY, ANA, run_context={"tenant": "someone-else"})


def test_a_stored_builtin_context_without_values_is_never_a_default_tenant() -> None:
    assert executed_context(Context, None) is None


async def test_langgraph_itself_gives_none_without_a_context_and_the_class_with_one() -> None:
    # Why every class schema gets an instance from `executed_context`: LangGraph passes
    # a missing context on as None, and `runtime.context.model` then fails.
    graph = build_graph(None)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'model'"):
        await graph.ainvoke({"question": "?"})
    got = await graph.ainvoke({"question": "?"}, context=executed_context(EchoContext, {}))
    assert got["context"] == DEFAULTS
    coerced = await graph.ainvoke({"question": "?"}, context={"model": "dict"})  # type: ignore[arg-type]
    assert coerced["model"] == "dict"  # LangGraph turns a dict into the dataclass


SPOOFED = {"langgraph_auth_user": {"identity": "root"}, "langgraph_auth_user_id": "root"}


def test_an_orca_identity_is_the_run_s_auth_user_and_a_caller_s_keys_are_dropped() -> None:
    config = with_auth_user({"configurable": {**SPOOFED, "model": "x"}, "tags": ["t"]}, ANA)
    assert config["tags"] == ["t"]
    assert config["configurable"] == {
        "model": "x",
        "langgraph_auth_user": {
            "identity": "ana",
            "display_name": "ana",
            "is_authenticated": True,
            "permissions": ["ingest", "run"],
            "kind": "api_key",
        },
        "langgraph_auth_user_id": "ana",
        "langgraph_auth_permissions": ["ingest", "run"],
    }


def test_nobody_authenticated_gets_no_auth_user_and_cannot_claim_one() -> None:
    assert with_auth_user({"configurable": SPOOFED}, ANONYMOUS) == {"configurable": {}}
    assert with_auth_user(None, ANONYMOUS) == {"configurable": {}}
