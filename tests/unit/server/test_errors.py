"""Refusals keep their message intact (`server/errors.py`)."""

from __future__ import annotations

import httpx
import pytest

from server.errors import run_error_message
from server.runs.service import NotFound, RunRejected


@pytest.mark.parametrize(
    "exc",
    [
        NotFound("no thread 'a1'"),
        NotFound("no run 'r1'"),
        RunRejected("assistant_id must be a UUID, not 'x'"),
        KeyError("no cron 'c1'"),
    ],
)
def test_a_message_ending_in_a_quote_keeps_it(exc: Exception) -> None:
    assert run_error_message(exc) == exc.args[0]


async def test_a_missing_thread_is_named_with_both_quotes(client: httpx.AsyncClient) -> None:
    response = await client.get("/threads/a1")
    assert response.status_code == 404
    assert response.json() == {"detail": "no thread 'a1'"}
    cron = await client.patch("/runs/crons/c1", json={"enabled": False})
    assert cron.status_code == 404 and cron.json()["detail"].endswith("'c1'")
