"""A run's LangGraph context, as LangGraph's server builds it, for any graph (no I/O).

The rules, lowest layer first: the context schema's defaults; the assistant's saved
`config.configurable` values that name context fields, then its saved `context`; the run's
`config.configurable` values that name context fields, then its `context`. So an absent or
empty context gives the schema's defaults, an older client that sends its knobs in
`configurable` still reaches the context (langgraph-api mirrors `configurable` into
`context` for them), and an assistant's saved context merges under the run's.

What is stored in the run row is the merged mapping (JSON); `coerce` turns it back into the
schema's type when the run executes. LangGraph 1.2 itself turns a dict into a dataclass or
pydantic context (`langgraph.pregel.main._coerce_context`: `context_schema(**context)`), but
passes `None` on when no context is given, and a node reading `runtime.context.field` then
fails (`'NoneType' object has no attribute ...`): so a graph with a class schema always
gets an instance here, its defaults filled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from typing_extensions import is_typeddict

from graphs.context import Context
from server.auth.identity import Identity
from server.run_policy import CALLER_SETTINGS, RunPolicy, RunRefused
from server.runs.serde import jsonable

AUTH_USER_KEYS = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")
"""The `configurable` keys where LangGraph's server hands a run its authenticated caller."""


class ContextRefused(ValueError):
    """The context cannot be built as given; the message says what to change (422)."""


def fields_of(schema: Any) -> frozenset[str] | None:
    """Return the field names of a context schema, or None when it names none."""
    if schema is None:
        return None
    if dataclasses.is_dataclass(schema) and isinstance(schema, type):
        return frozenset(f.name for f in dataclasses.fields(schema) if f.init)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return frozenset(schema.model_fields)
    if is_typeddict(schema):
        return frozenset(getattr(schema, "__annotations__", {}))
    return None


def is_class_schema(schema: Any) -> bool:
    """Return whether the schema is a class LangGraph instantiates (dataclass, pydantic)."""
    return isinstance(schema, type) and (
        dataclasses.is_dataclass(schema) or issubclass(schema, BaseModel)
    )


def configurable_of(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return a config's `configurable` (empty when absent or not a mapping)."""
    found = (config or {}).get("configurable")
    return found if isinstance(found, Mapping) else {}


def layered(
    fields: frozenset[str] | None,
    *,
    run_context: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    saved_context: Mapping[str, Any] | None = None,
    saved_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the context values a run's caller and its assistant give, merged.

    `configurable` values count only when they name a field (`thread_id` and the rest of
    LangGraph's config never do); a `context` key that names no field is refused, so a typo
    is an answer rather than a silently ignored knob. With no known fields (no schema,
    or a type that lists none) the contexts are merged as given.

    Raises:
        ContextRefused: naming the unknown keys and the known ones.
    """
    merged: dict[str, Any] = {}
    for configurable, context in (
        (configurable_of(saved_config), saved_context or {}),
        (configurable_of(run_config), run_context or {}),
    ):
        if fields is not None:
            merged.update({k: v for k, v in configurable.items() if k in fields})
            unknown = sorted(set(context) - fields)
            if unknown:
                raise ContextRefused(
                    f"context keys {unknown} are not fields of this graph's context; "
                    f"use {sorted(fields)}"
                )
        merged.update(context)
    return merged


def coerce(schema: Any, values: Mapping[str, Any] | None) -> Any:
    """Return the context a graph runs with: an instance of a class schema, else the values.

    A class schema is always instantiated (absent values give its defaults); a TypedDict
    or schema-less graph gets the mapping, or None when there is nothing in it.

    Raises:
        ContextRefused: the values do not make an instance (a required field is missing,
            pydantic refuses a value).
    """
    given = dict(values or {})
    if not is_class_schema(schema):
        return given if given or schema is not None else None
    try:
        if issubclass(schema, BaseModel):
            return schema.model_validate(given)
        return schema(**given)
    except ValidationError as refused:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg']}"
            for e in refused.errors()
        )
        raise ContextRefused(f"context: {problems}") from None
    except TypeError as refused:  # a dataclass missing a field without a default
        raise ContextRefused(f"context: {refused}") from None


def run_context(
    schema: Any,
    policy: RunPolicy,
    identity: Identity,
    *,
    run_context: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    assistant_context: Mapping[str, Any] | None = None,
    assistant_config: Mapping[str, Any] | None = None,
) -> Any:
    """Return a run's context as the run row stores it (JSON), checked.

    Orca's own `Context` goes through the run policy, which checks each caller setting and
    adds the server's (tenant, server files); another graph's is checked by building its
    schema, so a context that cannot be built is refused before the run is queued.

    Raises:
        ContextRefused: an unknown key, a setting the policy refuses, a missing field.
    """
    builtin = schema is Context
    values = layered(
        frozenset(CALLER_SETTINGS) if builtin else fields_of(schema),
        run_context=run_context,
        run_config=run_config,
        saved_context=assistant_context,
        saved_config=assistant_config,
    )
    if builtin:
        try:
            return vars(policy.context(values, identity))
        except RunRefused as refused:
            raise ContextRefused(str(refused)) from None
    coerce(schema, values)
    return values if values or schema is not None else None


def executed_context(schema: Any, stored: Any) -> Any:
    """Return the context a stored run executes with: the schema's type, defaults filled."""
    if schema is Context:
        # Never a default `Context`: its tenant is the one checked when the run was made.
        return Context(**stored) if isinstance(stored, dict) else None
    try:
        return coerce(schema, stored if isinstance(stored, dict) else None)
    except ContextRefused:
        return stored  # checked at creation; LangGraph's own error then fails the run


def auth_configurable(identity: Identity) -> dict[str, Any]:
    """Return the caller as LangGraph's server puts it in a run's `configurable`.

    `langgraph_auth_user` is the user as JSON: the project's `@auth.authenticate` result
    (`identity`, `permissions` and its other fields) under `ORCA_AUTH_PATH`, else Orca's
    own identity (`identity`, `display_name`, `is_authenticated`, `permissions` = its
    scopes, `kind`: `api_key` or `clerk`). `langgraph_auth_permissions` are the user's
    permissions. Nobody authenticated (`ORCA_AUTH_MODE=none`): no keys at all.
    """
    if identity.kind == "anonymous":
        return {}
    if identity.user is not None:
        user: dict[str, Any] = jsonable(identity.user.to_dict())
        permissions = [str(p) for p in identity.user.permissions]
    else:
        permissions = sorted(identity.scopes)
        user = {
            "identity": identity.id,
            "display_name": identity.id,
            "is_authenticated": True,
            "permissions": permissions,
            "kind": identity.kind,
        }
    return {
        "langgraph_auth_user": user,
        "langgraph_auth_user_id": identity.id,
        "langgraph_auth_permissions": permissions,
    }


def with_auth_user(config: Mapping[str, Any] | None, identity: Identity) -> dict[str, Any]:
    """Return `config` whose `configurable` holds the server's auth keys, never a caller's.

    Every surface builds a run's config through this (the runs API in
    `RunsService.create_run`, LangServe's config modifier, AG-UI's route): a caller or a
    saved assistant that sends `configurable.langgraph_auth_user` cannot pose as anyone.
    """
    configurable = {
        key: value for key, value in configurable_of(config).items() if key not in AUTH_USER_KEYS
    }
    configurable.update(auth_configurable(identity))
    return {**(config or {}), "configurable": configurable}
