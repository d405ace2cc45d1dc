"""The store of the Agent Server API: put, get, delete, search items; list namespaces.

Paths and bodies are the ones `langgraph-sdk` sends (`client.store.*`; `GET` takes the
namespace as one dotted string). Each identity reads and writes only its own namespaces
(`server/store/scoped.py`), under its project's `@auth.on.store` rules when `ORCA_AUTH_PATH`
names them (`server/store/authorized.py`); refusals are `{"detail"}`, as on the threads routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    InvalidNamespaceError,
    Item,
    SearchItem,
)
from pydantic import BaseModel, Field

from server.deps import IdentityDep, get_identity, resources_of
from server.runs.schema import Offset
from server.runs.wire import json_response
from server.store.open import MemoryStore
from server.store.rules import MAX_DEPTH, StoreRejected

router = APIRouter(tags=["store"], dependencies=[Depends(get_identity)])


async def get_store(request: Request) -> MemoryStore:
    """Return the app's memory store."""
    store = resources_of(request.app).store
    assert store is not None  # opened by the lifespan
    return store


async def get_own_store(
    identity: IdentityDep, store: Annotated[MemoryStore, Depends(get_store)]
) -> BaseStore:
    """Return the caller's view: its own namespaces, under its `@auth.on.store` rules."""
    return store.api_view(identity)


OwnStoreDep = Annotated[BaseStore, Depends(get_own_store)]


class PutItem(BaseModel):
    """`PUT /store/items`."""

    namespace: list[str]
    key: str
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    """`false`: not searchable by `query`; JSON paths: index those; unset: the index's fields."""
    ttl: float | None = Field(default=None, strict=True)
    """Minutes until the item expires (1/60 to a century); unset: the store's default TTL.
    Strict: `true` or `"5"` is a 422, not a TTL of 1 or 5 minutes."""


class DeleteItem(BaseModel):
    """`DELETE /store/items`."""

    namespace: list[str]
    key: str


class SearchItems(BaseModel):
    """`POST /store/items/search`."""

    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = Field(default=None, strict=True)


class ListNamespaces(BaseModel):
    """`POST /store/namespaces`."""

    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(default=None, ge=1, le=MAX_DEPTH)
    limit: int = 100
    offset: Offset = 0


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the store's refusals into 4xx answers that say what to change."""
    try:
        yield
    except StoreRejected as refused:
        raise HTTPException(refused.status, str(refused)) from None
    except InvalidNamespaceError as refused:
        raise HTTPException(422, str(refused)) from None


def item_json(item: Item) -> dict[str, Any]:
    """Return an item as langgraph-api answers it (`score` on search results)."""
    body: dict[str, Any] = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if isinstance(item, SearchItem):
        body["score"] = item.score
    return body


@router.put("/store/items", status_code=204)
async def put_item(body: PutItem, store: OwnStoreDep) -> Response:
    """Store or replace an item."""
    with refusals():
        await store.aput(
            tuple(body.namespace),
            body.key,
            body.value,
            index=body.index,
            ttl=NOT_PROVIDED if body.ttl is None else body.ttl,
        )
    return Response(status_code=204)


@router.get("/store/items")
async def get_item(
    store: OwnStoreDep,
    key: str,
    namespace: Annotated[str, Query(description="Labels joined by '.', e.g. `users.u1`")] = "",
    refresh_ttl: bool | None = None,
) -> Response:
    """Return an item, or `null` when there is none (as langgraph-api answers)."""
    with refusals():
        labels = tuple(namespace.split(".")) if namespace else ()
        item = await store.aget(labels, key, refresh_ttl=refresh_ttl)
    return json_response(item_json(item) if item is not None else None)


@router.delete("/store/items", status_code=204)
async def delete_item(body: DeleteItem, store: OwnStoreDep) -> Response:
    """Delete an item (nothing happens if there is none)."""
    with refusals():
        await store.adelete(tuple(body.namespace), body.key)
    return Response(status_code=204)


@router.post("/store/items/search")
async def search_items(body: SearchItems, store: OwnStoreDep) -> Response:
    """Search items under a namespace prefix: by `filter`, and by meaning with `query`."""
    with refusals():
        found = await store.asearch(
            tuple(body.namespace_prefix),
            query=body.query,
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
            refresh_ttl=body.refresh_ttl,
        )
    return json_response({"items": [item_json(item) for item in found]})


@router.post("/store/namespaces")
async def list_namespaces(body: ListNamespaces, store: OwnStoreDep) -> Response:
    """List the namespaces holding items, under `prefix` and ending with `suffix`."""
    with refusals():
        found = await store.alist_namespaces(
            prefix=tuple(body.prefix) if body.prefix else None,
            suffix=tuple(body.suffix) if body.suffix else None,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
        )
    return json_response({"namespaces": [list(namespace) for namespace in found]})
