"""langgraph-api's `/info` and `/ok`: open like `/health`, and `/ok?check_db=1` tells a
database that is down (a private PostgreSQL server the test stops)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support_postgres import private_postgres
from tests.support_runs import runs_settings, served

pytestmark = pytest.mark.integration


async def test_info_and_ok_answer_without_credentials(backend: str | None, tmp_path: Path) -> None:
    settings = runs_settings(tmp_path / "var", backend, auth_mode="api_key")
    with served(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.post("/threads/search", json={})).status_code == 401
            info = await http.get("/info")  # what Agent Chat UI fetches on every page load
            assert info.status_code == 200
            body = info.json()
            assert body["version"] and body["langgraph_py_version"].startswith("1.")
            assert body["flags"]["assistants"] is True and body["flags"]["crons"] is True
            assert body["host"]["kind"] == "self-hosted"
            for path in ("/ok", "/ok?check_db=1"):
                answer = await http.get(path)
                assert (answer.status_code, answer.json()) == (200, {"ok": True}), path
            assert (await http.get("/ok?check_db=2")).status_code == 422


async def test_ok_with_check_db_is_503_while_the_database_is_down(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        database = postgres.create_database(f"orca_{uuid.uuid4().hex[:8]}")
        with served(runs_settings(tmp_path / "var", database)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                assert (await http.get("/ok?check_db=1")).status_code == 200
                postgres.stop()
                try:
                    down = await http.get("/ok?check_db=1")
                    assert down.status_code == 503 and down.headers["retry-after"]
                    assert down.json()["ok"] is False and "database" in down.json()["detail"]
                    assert (await http.get("/ok")).json() == {"ok": True}  # alive, all the same
                finally:
                    postgres.start()
                back = await http.get("/ok?check_db=1")
                assert back.status_code == 200, back.text
