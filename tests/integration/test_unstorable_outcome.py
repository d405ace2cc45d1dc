"""A run whose result PostgreSQL cannot store ends in `error` at once and frees its thread.

Before: a result holding U+0000 failed the outcome's jsonb write (`UntranslatableCharacter`),
the run stayed `running` and every new run on its thread got 409. The NUL comes from the
graph (`tests.doubles.nul_graph`), never from the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.support_processes import GUARD_S, until
from tests.support_runs import served

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(postgres_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        postgres_url=postgres_url,
        graphs={"nul": "tests.doubles.nul_graph:build_graph"},
        rate_limit="",
        rate_limit_runs="",
    )
    with served(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=GUARD_S) as client:
            yield client


async def background(client: httpx.AsyncClient, thread_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/threads/{thread_id}/runs",
        json={"assistant_id": "nul", "if_not_exists": "create", **body},
    )
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()

    async def final() -> bool:
        current = await client.get(f"/threads/{thread_id}/runs/{run['run_id']}")
        run.update(current.json())
        return run["status"] not in ("pending", "running")

    await until(final, "the run ending")
    return run


@pytest.mark.parametrize(
    ("where", "refused"),
    [
        ("lines", "OutcomeUnstorable"),  # the checkpoint takes it (a blob); the outcome not
        ("text", "UntranslatableCharacter"),  # the checkpoint write refuses it already
    ],
)
async def test_a_result_holding_nul_ends_the_run_in_error_and_frees_the_thread(
    client: httpx.AsyncClient, where: str, refused: str
) -> None:
    thread_id = f"nul-in-{where}"
    run = await background(client, thread_id, input={"text": "falcon", "nul": where})
    assert run["status"] == "error"
    answer = (await client.get(f"/threads/{thread_id}/runs/{run['run_id']}/join")).json()
    error = answer["__error__"]
    assert error["error"] == refused
    assert "unsupported Unicode escape sequence" in error["message"]  # PostgreSQL's reason
    if refused == "OutcomeUnstorable":
        assert "U+0000" in error["message"]  # and what it means

    thread = (await client.get(f"/threads/{thread_id}")).json()
    assert thread["status"] == "error"  # not `busy`
    replay = await client.get(f"/threads/{thread_id}/runs/{run['run_id']}/stream")
    names = [
        line[len("event: ") :] for line in replay.text.splitlines() if line.startswith("event:")
    ]
    assert names[-1] == "error"  # the stream's last event (langgraph-api sends no `end`)

    # The thread takes a new run at once (it was 409 for ever), and it succeeds.
    second = await background(
        client, thread_id, input={"text": "kestrel", "nul": None}, multitask_strategy="reject"
    )
    assert second["status"] == "success"
    answer = (await client.get(f"/threads/{thread_id}/runs/{second['run_id']}/join")).json()
    assert answer["lines"] == ["kestrel"]
