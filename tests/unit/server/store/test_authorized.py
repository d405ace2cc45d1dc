"""A project's `@auth.on.store` filters on a caller's view of the store."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import TTLConfig
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import Auth

from server.auth.langgraph_auth.user import identity_of
from server.embeddings.errors import ApiError
from server.store.authorized import AuthorizedStore
from server.store.scoped import ScopedStore

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> str:
    return "u1"


@auth.on.store.get
@auth.on.store.delete
async def only_public(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """Let the caller see and delete only items marked public."""
    return {"public": True}


@auth.on.store.put
async def put_with_filter(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """A mistake: a put has no item to match a filter against."""
    return {"public": True} if value["key"] == "bad" else None


@auth.on.store.list_namespaces
async def scope_listing(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
    """List only the caller's own first label (LangGraph's example)."""
    value["namespace"] = (ctx.user.identity,)


async def views() -> tuple[ScopedStore, AuthorizedStore]:
    inner = InMemoryStore()
    own = ScopedStore(inner, "team", ttl=TTLConfig(), max_value_bytes=10_000)
    return own, AuthorizedStore(own, identity_of("u1", auth))


async def test_get_and_delete_match_the_filter_against_the_item_value() -> None:
    own, authorized = await views()
    await own.aput(("notes",), "open", {"public": True})
    await own.aput(("notes",), "closed", {"public": False})
    assert await authorized.aget(("notes",), "open") is not None
    assert await authorized.aget(("notes",), "closed") is None
    await authorized.adelete(("notes",), "closed")  # not the caller's to delete: nothing
    assert await own.aget(("notes",), "closed") is not None
    await authorized.adelete(("notes",), "open")
    assert await own.aget(("notes",), "open") is None


async def test_a_filter_on_put_is_a_server_error_not_ignored() -> None:
    _, authorized = await views()
    await authorized.aput(("notes",), "good", {"x": 1})
    with pytest.raises(ApiError) as failed:
        await authorized.aput(("notes",), "bad", {"x": 1})
    assert failed.value.status == 500


async def test_a_listing_uses_the_prefix_the_handler_set() -> None:
    own, authorized = await views()
    await own.aput(("u1", "a"), "k", {"x": 1})
    await own.aput(("u2", "b"), "k", {"x": 1})
    assert await authorized.alist_namespaces() == [("u1", "a")]
    assert len(await own.alist_namespaces()) == 2
