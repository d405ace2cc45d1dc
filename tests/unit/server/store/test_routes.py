"""The store's HTTP bodies: a bad `ttl`, `refresh_ttl` or `max_depth` is a 422 naming it.

Before these bounds, `ttl: 1e-7` reached PostgreSQL as `6e-06 seconds` (no interval it
reads: a 500), `ttl: true` and `"5"` were taken as 1 and 5 minutes, and `max_depth: 2**31`
overflowed PostgreSQL's `integer` (a 500).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ITEM = {"namespace": ["t"], "key": "k", "value": {"a": 1}}


def refused_field(response: httpx.Response) -> str:
    """Return what a 422 names: the field of a validation error, or the store's sentence."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    return str(detail[0]["loc"][-1]) if isinstance(detail, list) else str(detail)


@pytest.mark.parametrize("ttl", [True, "5", 1e-7, 1e-10, 1e-300, 0, -1])
async def test_a_ttl_that_is_not_minutes_from_one_second_is_refused(
    client: httpx.AsyncClient, ttl: Any
) -> None:
    response = await client.put("/store/items", json={**ITEM, "ttl": ttl})
    assert "ttl" in refused_field(response)
    found = await client.get("/store/items", params={"namespace": "t", "key": "k"})
    assert found.json() is None


async def test_a_ttl_of_one_second_or_more_is_stored(client: httpx.AsyncClient) -> None:
    for ttl in (1 / 60, 0.02, 5):
        response = await client.put("/store/items", json={**ITEM, "ttl": ttl})
        assert response.status_code == 204, response.text


async def test_refresh_ttl_is_a_bool_not_a_truthy_value(client: httpx.AsyncClient) -> None:
    body = {"namespace_prefix": ["t"], "refresh_ttl": "yes"}
    assert refused_field(await client.post("/store/items/search", json=body)) == "refresh_ttl"


@pytest.mark.parametrize("max_depth", [0, 17, 2**31])
async def test_a_max_depth_no_namespace_has_is_refused(
    client: httpx.AsyncClient, max_depth: int
) -> None:
    response = await client.post("/store/namespaces", json={"max_depth": max_depth})
    assert refused_field(response) == "max_depth"
