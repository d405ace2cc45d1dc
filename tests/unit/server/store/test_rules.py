"""What the store accepts, and how filters match (`server/store/rules.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from server.store.rules import (
    MIN_TTL_MINUTES,
    StoreRejected,
    check_filter,
    check_item_namespace,
    check_key,
    check_namespace,
    check_refresh_ttl,
    check_ttl,
    check_value,
    matches,
    owner_label,
)


@pytest.mark.parametrize(
    "namespace",
    [(), ("",), ("a.b",), ("langgraph", "x"), ("a",) * 17, ("x" * 257,)],
)
def test_an_item_namespace_is_refused(namespace: tuple[str, ...]) -> None:
    with pytest.raises(StoreRejected) as refused:
        check_item_namespace(namespace)
    assert refused.value.status == 422


def test_a_prefix_may_be_empty_but_not_dotted() -> None:
    check_namespace(())
    with pytest.raises(StoreRejected, match="periods"):
        check_namespace(("ok", "a.b"), what="namespace_prefix")


@pytest.mark.parametrize("key", ["", "k" * 1025])
def test_a_key_is_refused(key: str) -> None:
    with pytest.raises(StoreRejected):
        check_key(key)


def test_a_value_over_the_limit_is_413_and_a_non_object_422() -> None:
    check_value({"text": "x" * 100}, max_bytes=200)
    with pytest.raises(StoreRejected) as big:
        check_value({"text": "x" * 300}, max_bytes=200)
    assert big.value.status == 413
    with pytest.raises(StoreRejected) as listed:
        check_value([1, 2], max_bytes=200)  # type: ignore[arg-type]
    assert listed.value.status == 422


@pytest.mark.parametrize(
    "ttl", [0, -1, float("inf"), float("nan"), True, "5", 10**9, 1e-7, 1e-10, 1e-300, 0.0166]
)
def test_a_ttl_is_refused(ttl: Any) -> None:
    with pytest.raises(StoreRejected):
        check_ttl(ttl)


@pytest.mark.parametrize("ttl", [None, MIN_TTL_MINUTES, 0.02, 5, 60 * 24 * 365])
def test_a_ttl_is_accepted(ttl: Any) -> None:
    check_ttl(ttl)


@pytest.mark.parametrize("refresh_ttl", ["yes", 1, 0, "false"])
def test_a_refresh_ttl_that_is_not_a_bool_is_refused(refresh_ttl: Any) -> None:
    with pytest.raises(StoreRejected, match="refresh_ttl"):
        check_refresh_ttl(refresh_ttl)
    check_refresh_ttl(None)
    check_refresh_ttl(False)


@pytest.mark.parametrize(
    "given",
    [
        {"a.b": 1},
        {"": 1},
        {"a": {"$regex": "x"}},
        {"a": {"$gt": "5"}},
        {"a": {"$lt": True}},
    ],
)
def test_a_filter_is_refused(given: dict[str, Any]) -> None:
    with pytest.raises(StoreRejected):
        check_filter(given)


VALUE = {"n": 7, "text": "tea", "tags": ["a", "b"], "meta": {"lang": "en", "v": 2}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"n": 7}, True),
        ({"n": {"$gt": 5, "$lte": 7}}, True),
        ({"n": {"$gt": 10}}, False),
        ({"text": {"$ne": "coffee"}}, True),
        ({"missing": {"$ne": "x"}}, False),
        ({"text": {"$gt": 1}}, False),
        ({"tags": ["a", "b"]}, True),
        ({"tags": ["a"]}, False),
        ({"meta": {"lang": "en"}}, True),
        ({"meta": {"lang": "fr"}}, False),
        ({}, True),
    ],
)
def test_a_filter_matches_as_the_sql_stores_decide(given: dict[str, Any], expected: bool) -> None:
    check_filter(given)
    assert matches(VALUE, given) is expected


def test_owner_labels_are_distinct_and_storable() -> None:
    labels = {owner_label(owner) for owner in ("a.b", "a%2Eb", "ab", "public")}
    assert len(labels) == 4
    for label in labels:
        check_namespace((label,))
