"""One identity's view of the store: its namespaces, under a first label it never sees.

Every op an identity sends gets `owner_label(identity)` put in front of its namespace (or
prefix, or namespace match) and taken off what comes back, so namespaces of another
identity can neither be named nor listed nor found by a search. The HTTP API serves the
caller's view; a graph's `runtime.store` serves its run owner's (`server/store/runs.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from server.runs.schema import MAX_OFFSET
from server.store.indexed import LoopStore
from server.store.rules import (
    MAX_DEPTH,
    StoreRejected,
    check_address,
    check_filter,
    check_item_namespace,
    check_key,
    check_namespace,
    check_refresh_ttl,
    check_ttl,
    check_value,
    owner_label,
)

MAX_LIMIT = 1000
"""Most items or namespaces one search or listing returns."""


class ScopedStore(LoopStore):
    """The items of one owner, in namespaces relative to its hidden first label."""

    supports_ttl = True

    def __init__(
        self, inner: BaseStore, owner: str, *, ttl: TTLConfig, max_value_bytes: int
    ) -> None:
        """Scope `inner` to `owner`; `ttl` gives puts their default TTL and reads their refresh."""
        super().__init__(getattr(inner, "loop", None))
        self.inner = inner
        self.owner = owner
        self.label = owner_label(owner)
        self.ttl_config = ttl
        self.max_value_bytes = max_value_bytes

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Check and scope each op, run them, and give back results in the owner's terms."""
        scoped = [self._scope(op) for op in ops]
        return [self._unscope(result) for result in await self.inner.abatch(scoped)]

    def _scope(self, op: Op) -> Op:
        if isinstance(op, PutOp):
            check_item_namespace(op.namespace)
            check_key(op.key)
            check_address(op.namespace, op.key)
            if op.value is not None:
                check_value(op.value, self.max_value_bytes)
            check_ttl(op.ttl)
            if op.index not in (None, False) and (
                not isinstance(op.index, list)
                or not all(isinstance(p, str) and p for p in op.index)
            ):
                raise StoreRejected("index must be false, or a list of JSON paths like ['text']")
            return op._replace(namespace=self._in(op.namespace))
        if isinstance(op, GetOp):
            check_namespace(op.namespace)
            check_key(op.key)
            check_refresh_ttl(op.refresh_ttl)
            return op._replace(namespace=self._in(op.namespace))
        if isinstance(op, SearchOp):
            check_namespace(op.namespace_prefix, what="namespace_prefix")
            check_filter(op.filter)
            _check_page(op.limit, op.offset)
            check_refresh_ttl(op.refresh_ttl)
            if op.query is not None and not isinstance(op.query, str):
                raise StoreRejected("query must be a string")
            return op._replace(namespace_prefix=self._in(op.namespace_prefix))
        if isinstance(op, ListNamespacesOp):
            return self._scope_listing(op)
        raise StoreRejected(f"unknown store operation {type(op).__name__}")

    def _scope_listing(self, op: ListNamespacesOp) -> ListNamespacesOp:
        _check_page(op.limit, op.offset)
        _check_depth(op.max_depth)
        conditions: list[MatchCondition] = []
        has_prefix = False
        for condition in op.match_conditions or ():
            labels = tuple(condition.path)
            check_namespace(tuple(label for label in labels if label != "*"), what="prefix")
            if condition.match_type == "prefix":
                has_prefix = True
                labels = self._in(labels)
            conditions.append(MatchCondition(match_type=condition.match_type, path=labels))
        if not has_prefix:
            conditions.append(MatchCondition(match_type="prefix", path=(self.label,)))
        depth = op.max_depth + 1 if op.max_depth is not None else None
        return op._replace(match_conditions=tuple(conditions), max_depth=depth)

    def _in(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        return (self.label, *namespace)

    def _out(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        assert namespace[:1] == (self.label,), "the store returned another owner's namespace"
        return tuple(namespace[1:])

    def _unscope(self, result: Any) -> Any:
        if isinstance(result, SearchItem):
            return SearchItem(
                self._out(result.namespace),
                result.key,
                result.value,
                result.created_at,
                result.updated_at,
                result.score,
            )
        if isinstance(result, Item):
            return Item(
                namespace=self._out(result.namespace),
                key=result.key,
                value=result.value,
                created_at=result.created_at,
                updated_at=result.updated_at,
            )
        if isinstance(result, list):
            return [
                self._out(tuple(entry)) if isinstance(entry, tuple) else self._unscope(entry)
                for entry in result
            ]
        return result


def _check_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise StoreRejected(f"limit must be between 1 and {MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise StoreRejected(f"offset must be between 0 and {MAX_OFFSET}")


def _check_depth(max_depth: int | None) -> None:
    """Refuse a depth no namespace can have: past `MAX_DEPTH` it would only reach SQL."""
    if max_depth is None:
        return
    if isinstance(max_depth, bool) or not isinstance(max_depth, int):
        raise StoreRejected(f"max_depth must be a whole number, got {max_depth!r}")
    if not 1 <= max_depth <= MAX_DEPTH:
        raise StoreRejected(f"max_depth must be between 1 and {MAX_DEPTH} (most labels)")
