"""Threads checkpointed in real PostgreSQL survive a restart of the app."""

from pathlib import Path

import psycopg
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import FAKE_ANSWER, fake_models, serving

pytestmark = pytest.mark.integration


async def test_thread_state_survives_an_app_restart(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", postgres_url=postgres_url)
    config = {"configurable": {"thread_id": "survivor"}}

    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        health = (await client.get("/health/detailed")).json()
        assert health["checks"]["checkpointer:postgres"]["status"] == "up"
        await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Falcon."]}})
        first = await client.post(
            "/workflows/rag/invoke", json={"input": {"question": "before?"}, "config": config}
        )
        assert first.status_code == 200, first.text

    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        second = await client.post(
            "/workflows/rag/invoke", json={"input": {"question": "after?"}, "config": config}
        )
        assert second.status_code == 200, second.text
        graph = client._transport.app.state.resources.graphs["rag"]  # type: ignore[attr-defined]
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == [
            "before?",
            FAKE_ANSWER,
            "after?",
            FAKE_ANSWER,
        ]

    with psycopg.connect(postgres_url) as connection:
        threads = connection.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = 'survivor'"
        ).fetchone()
    assert threads is not None and threads[0] >= 2


async def test_postgres_down_is_reported_by_health(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "var", postgres_url=postgres_url)
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        store = app.state.resources.checkpoints

        async def broken() -> None:
            raise psycopg.OperationalError("connection refused")

        app.state.resources.checkpoints = type(store)(store.saver, store.kind, broken)
        response = await client.get("/health/detailed")
        assert response.status_code == 503
        assert response.json()["down"] == ["checkpointer:postgres"]
        app.state.resources.checkpoints = store
