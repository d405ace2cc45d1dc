"""Values past PostgreSQL's index limits are refused by name, on every surface, not a 503.

A btree index row holds at most 2,704 bytes: a caller-chosen thread id, or a store item's
namespace and key, longer than that used to reach PostgreSQL and come back as
"PostgreSQL is unavailable" (503, naming the index). The rules in front of the stores refuse
them first (`MAX_THREAD_ID_CHARS`, `MAX_ADDRESS_BYTES`); what still gets through is 422.
"""

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.errors import add_error_handlers
from server.runs.service import MAX_THREAD_ID_CHARS
from server.settings import Settings
from server.store.rules import MAX_ADDRESS_BYTES
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

pytestmark = pytest.mark.integration

TOO_LONG = "f" * (MAX_THREAD_ID_CHARS + 1)
LONGEST = "漢" * MAX_THREAD_ID_CHARS
"""The longest thread id a caller may choose, three bytes a character."""


@pytest.fixture
async def client(postgres_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "var", postgres_url=postgres_url)
    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        yield client


def thread_rows(postgres_url: str, thread_id: str) -> int:
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM orca_threads WHERE thread_id = %s", (thread_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


CHAT = {"messages": [{"type": "human", "content": "hi"}]}


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/threads", {"thread_id": TOO_LONG}),
        (
            f"/threads/{TOO_LONG}/runs/wait",
            {"assistant_id": "agent", "input": CHAT, "if_not_exists": "create"},
        ),
        (
            "/workflows/agent/invoke",
            {"input": CHAT, "config": {"configurable": {"thread_id": TOO_LONG}}},
        ),
        (
            "/agui/agent",
            {
                "threadId": TOO_LONG,
                "runId": "r",
                "messages": [{"id": "u", "role": "user", "content": "hi"}],
            },
        ),
    ],
)
async def test_an_over_long_thread_id_is_422_on_every_surface_and_nothing_is_stored(
    client: httpx.AsyncClient, postgres_url: str, route: str, body: dict[str, Any]
) -> None:
    response = await client.post(route, json=body)
    assert response.status_code == 422, response.text
    assert f"at most {MAX_THREAD_ID_CHARS}" in response.text
    assert "PostgreSQL" not in response.text
    assert thread_rows(postgres_url, TOO_LONG) == 0


async def test_the_longest_thread_id_allowed_runs_in_postgres(
    client: httpx.AsyncClient, postgres_url: str
) -> None:
    run = {"assistant_id": "agent", "input": CHAT, "if_not_exists": "create"}
    response = await client.post(f"/threads/{LONGEST}/runs/wait", json=run)
    assert response.status_code == 200, response.text
    # Headers are Latin-1: the thread id is percent-encoded in the run's URLs.
    located = unquote(response.headers["content-location"])
    assert located.startswith(f"/threads/{LONGEST}/runs/")
    state = await client.get(f"/threads/{LONGEST}/state")
    assert state.status_code == 200, state.text
    assert len(state.json()["values"]["messages"]) == 2
    assert thread_rows(postgres_url, LONGEST) == 1


async def test_a_store_item_past_the_index_budget_is_422_and_the_longest_is_kept(
    client: httpx.AsyncClient,
) -> None:
    namespace = ["漢" * 200, "語" * 200]  # 1,201 bytes joined
    longest_key = "k" * (MAX_ADDRESS_BYTES - 1201)
    kept = await client.put(
        "/store/items", json={"namespace": namespace, "key": longest_key, "value": {"n": 1}}
    )
    assert kept.status_code == 204, kept.text
    got = await client.get(
        "/store/items", params={"namespace": ".".join(namespace), "key": longest_key}
    )
    assert got.status_code == 200, got.text
    assert got.json()["value"] == {"n": 1}

    refused = await client.put(
        "/store/items", json={"namespace": namespace, "key": longest_key + "k", "value": {}}
    )
    assert refused.status_code == 422, refused.text
    assert f"at most {MAX_ADDRESS_BYTES}" in refused.json()["detail"]


async def test_what_still_reaches_an_index_limit_is_422_not_postgres_is_unavailable(
    postgres_url: str,
) -> None:
    app = FastAPI()
    add_error_handlers(app)

    @app.post("/rows")
    async def insert_row(value: str) -> None:
        async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
            await connection.execute("CREATE TEMP TABLE t (v text PRIMARY KEY)")
            await connection.execute("INSERT INTO t VALUES (%s)", (value,))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orca.test"
    ) as client:
        fits = await client.post("/rows", params={"value": "short"})
        assert fits.status_code == 200, fits.text
        response = await client.post("/rows", params={"value": secrets.token_hex(2000)})
    assert response.status_code == 422, response.text
    assert "too large for the database" in response.json()["detail"]
    assert response.headers.get("retry-after") is None
