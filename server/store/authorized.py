"""The project's `@auth.on.store` rules (`ORCA_AUTH_PATH`) on the store API.

`AuthorizedStore` wraps a caller's `ScopedStore` (the view every `/store/*` route uses) and
asks the project's handler about each operation before it runs, as langgraph-api does. The
handler gets LangGraph's value for the action (`langgraph_sdk.auth.types.Store*`) and may:

- change `value["namespace"]` in place: the operation then uses that namespace (e.g.
  `(ctx.user.identity, *namespace)`, LangGraph's own example), and items come back in it;
- refuse: `False` or a failed `assert` is 403, `Auth.exceptions.HTTPException` its status;
- return a filter dict, matched against the items' values: a `get` that does not match
  finds nothing, a `search` returns only matches (equalities are searched by the store; a
  `$contains` is matched on each page, which may then come back short), a `delete` of an
  item that does not match does nothing. `put` and `list_namespaces` have no item to
  match, so a filter there is a bug in the handler (500, logged), never silently dropped.

Orca's own rule still holds underneath: the rewritten namespace lives inside the caller's
identity's hidden namespace (`server/store/scoped.py`). Graphs' `runtime.store` is not
asked (as on LangGraph's server, handlers guard the HTTP API only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchOp,
)

from server.auth.identity import Identity
from server.auth.langgraph_auth import Filters, authorize, matches
from server.auth.langgraph_auth.authorize import equality_part
from server.embeddings.errors import ApiError
from server.store.indexed import LoopStore
from server.store.rules import StoreRejected
from server.store.scoped import ScopedStore

log = logging.getLogger("orca")


class AuthorizedStore(LoopStore):
    """A caller's view of the store, each operation first put to the project's handlers."""

    supports_ttl = True

    def __init__(self, inner: ScopedStore, identity: Identity) -> None:
        """Ask `identity`'s project handlers before each operation on `inner`."""
        super().__init__(inner.loop)
        self.inner = inner
        self.identity = identity
        self.ttl_config = inner.ttl_config

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Authorize and rewrite each op, run them, and drop results the filters hide."""
        decided = [await self._authorized(op) for op in ops]
        results = await self.inner.abatch([op for op, _ in decided])
        pairs = zip(decided, results, strict=True)
        return [_visible(result, filters) for (_, filters), result in pairs]

    async def _authorized(self, op: Op) -> tuple[Op, Filters | None]:
        if isinstance(op, PutOp) and op.value is None:
            return await self._delete(op)
        if isinstance(op, PutOp):
            value: dict[str, Any] = {
                "namespace": op.namespace,
                "key": op.key,
                "value": op.value,
                "index": op.index,
            }
            self._no_filter(await self._ask("put", value), "put")
            return op._replace(namespace=_namespace(value), value=value.get("value")), None
        if isinstance(op, GetOp):
            value = {"namespace": op.namespace, "key": op.key}
            filters = await self._ask("get", value)
            return op._replace(namespace=_namespace(value)), filters
        if isinstance(op, SearchOp):
            value = {
                "namespace": op.namespace_prefix,
                "filter": op.filter,
                "limit": op.limit,
                "offset": op.offset,
                "query": op.query,
            }
            filters = await self._ask("search", value)
            # Equalities go to the store so pages stay full; the caller's own value for a
            # key wins there, and `_visible` then drops what the rule does not allow.
            equal, _ = equality_part(filters)
            searched = op._replace(
                namespace_prefix=_namespace(value, allow_empty=True),
                filter={**equal, **(value.get("filter") or {})} or None,
                limit=value.get("limit", op.limit),
                offset=value.get("offset", op.offset),
                query=value.get("query"),
            )
            return searched, filters
        if isinstance(op, ListNamespacesOp):
            return await self._listing(op), None
        raise StoreRejected(f"unknown store operation {type(op).__name__}")

    async def _delete(self, op: PutOp) -> tuple[Op, Filters | None]:
        value: dict[str, Any] = {"namespace": op.namespace, "key": op.key}
        filters = await self._ask("delete", value)
        namespace = _namespace(value)
        if filters:  # delete only an item the filters match
            (found,) = await self.inner.abatch([GetOp(namespace, op.key)])
            if found is None or not matches(getattr(found, "value", None), filters):
                return GetOp(namespace, op.key, refresh_ttl=False), None
        return op._replace(namespace=namespace), None

    async def _listing(self, op: ListNamespacesOp) -> ListNamespacesOp:
        conditions = op.match_conditions or ()
        prefix = next((c.path for c in conditions if c.match_type == "prefix"), None)
        suffix = next((c.path for c in conditions if c.match_type == "suffix"), None)
        value: dict[str, Any] = {
            "namespace": prefix,
            "suffix": suffix,
            "max_depth": op.max_depth,
            "limit": op.limit,
            "offset": op.offset,
        }
        self._no_filter(await self._ask("list_namespaces", value), "list_namespaces")
        rewritten: list[MatchCondition] = []
        if value.get("namespace"):
            rewritten.append(MatchCondition("prefix", _namespace(value)))
        if value.get("suffix"):
            rewritten.append(MatchCondition("suffix", _labels(value["suffix"], "suffix")))
        return op._replace(
            match_conditions=tuple(rewritten) or None,
            max_depth=value.get("max_depth"),
            limit=value.get("limit", op.limit),
            offset=value.get("offset", op.offset),
        )

    async def _ask(self, action: str, value: dict[str, Any]) -> Filters | None:
        return await authorize(self.identity, "store", action, value)

    def _no_filter(self, filters: Filters | None, action: str) -> None:
        if filters:
            log.error("the @auth.on handler for store.%s returned a filter: %r", action, filters)
            raise ApiError(500, "authorization failed on the server; the error is logged")


def _namespace(value: dict[str, Any], *, allow_empty: bool = False) -> tuple[str, ...]:
    """Return the namespace the handler left in `value` (a list or tuple of labels)."""
    found = value.get("namespace")
    if found is None and allow_empty:
        return ()
    return _labels(found, "namespace")


def _labels(found: Any, what: str) -> tuple[str, ...]:
    if isinstance(found, str) or not isinstance(found, Sequence):
        log.error("an @auth.on.store handler set %s to %r", what, found)
        raise ApiError(500, "authorization failed on the server; the error is logged")
    return tuple(found)


def _visible(result: Result, filters: Filters | None) -> Result:
    """Return what the filters let through of a get's item or a search's items."""
    if not filters:
        return result
    if isinstance(result, list):  # a search's items (filters come only from get and search)
        return [item for item in result if isinstance(item, Item) and matches(item.value, filters)]
    if isinstance(result, Item) and not matches(result.value, filters):
        return None
    return result
