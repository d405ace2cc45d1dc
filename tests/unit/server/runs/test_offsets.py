"""Every page's `offset` has one bound (`MAX_OFFSET`), a 422 naming it on every route.

An offset past PostgreSQL's `bigint` (2**63) used to reach the database and come back as a
500 (`NumericValueOutOfRange`; on SQLite an `OverflowError`); only `/assistants/search`
had a bound.
"""

from __future__ import annotations

import httpx
import pytest

from server.runs.schema import MAX_OFFSET

PAST_BIGINT = 2**63
SEARCHES = [
    "/threads/search",
    "/assistants/search",
    "/assistants/rag/versions",
    "/runs/crons/search",
    "/store/items/search",
    "/store/namespaces",
]
"""The routes whose body carries an `offset`."""


def refused_offset(response: httpx.Response) -> bool:
    """Return whether the answer is FastAPI's 422 naming `offset`."""
    if response.status_code != 422:
        return False
    return [error["loc"][-1] for error in response.json()["detail"]] == ["offset"]


@pytest.mark.parametrize("offset", [PAST_BIGINT, MAX_OFFSET + 1, -1])
async def test_a_body_offset_out_of_bounds_is_refused_everywhere(
    client: httpx.AsyncClient, offset: int
) -> None:
    for route in SEARCHES:
        response = await client.post(route, json={"offset": offset})
        assert refused_offset(response), (route, response.status_code, response.text)


async def test_a_run_listing_refuses_an_offset_past_the_bound(client: httpx.AsyncClient) -> None:
    thread = (await client.post("/threads", json={})).json()["thread_id"]
    for offset in (str(PAST_BIGINT), "99999999999999999999999", str(MAX_OFFSET + 1)):
        response = await client.get(f"/threads/{thread}/runs", params={"offset": offset})
        assert refused_offset(response), (offset, response.text)
    at_bound = await client.get(f"/threads/{thread}/runs", params={"offset": MAX_OFFSET})
    assert at_bound.status_code == 200 and at_bound.json() == []


async def test_an_offset_at_the_bound_is_an_empty_page(client: httpx.AsyncClient) -> None:
    for route in SEARCHES:
        response = await client.post(route, json={"offset": MAX_OFFSET})
        assert response.status_code == 200, (route, response.text)
