"""The shared (L2) cache in real PostgreSQL: migrations, sharing across processes, outages."""

import asyncio
from pathlib import Path

import psycopg
import pytest
from psycopg import AsyncConnection

from server.app import create_app
from server.migrations import MIGRATIONS, migrate
from server.settings import Settings
from tests.doubles.embedder import CountingEmbedder, fake_embedder
from tests.support import fake_models, serving

pytestmark = pytest.mark.integration


def settings_for(postgres_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", postgres_url=postgres_url)


async def test_migrations_run_once_even_when_processes_start_together(postgres_url: str) -> None:
    async def run() -> int:
        async with await AsyncConnection.connect(postgres_url, autocommit=True) as connection:
            return await migrate(connection)

    assert await asyncio.gather(run(), run(), run()) == [len(MIGRATIONS)] * 3
    with psycopg.connect(postgres_url) as connection:
        versions = connection.execute("SELECT version FROM orca_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == list(range(1, len(MIGRATIONS) + 1))


async def test_a_second_process_is_served_from_the_shared_cache(
    postgres_url: str, tmp_path: Path
) -> None:
    texts = ["shared across processes", "second text"]
    first = CountingEmbedder()
    app = create_app(
        settings_for(postgres_url, tmp_path), models=fake_models(), embedder=fake_embedder(first)
    )
    async with serving(app) as http:
        miss = await http.post("/v1/embeddings", json={"model": "embed-01", "input": texts})
        assert miss.headers["x-cache"] == "miss"
        await app.state.resources.embeddings.drain()
    second = CountingEmbedder()
    app = create_app(
        settings_for(postgres_url, tmp_path), models=fake_models(), embedder=fake_embedder(second)
    )
    async with serving(app) as http:
        hit = await http.post("/v1/embeddings", json={"model": "embed-01", "input": texts[::-1]})
        assert hit.headers["x-cache"] == "hit"
        assert second.batches == []
        assert hit.json()["data"][0]["embedding"] == miss.json()["data"][1]["embedding"]
        assert hit.json()["usage"] == miss.json()["usage"]
        assert app.state.resources.embeddings.stats.l2_hits == 2


async def test_an_l2_outage_degrades_to_misses_not_failures(
    postgres_url: str, tmp_path: Path
) -> None:
    embedder = CountingEmbedder()
    app = create_app(
        settings_for(postgres_url, tmp_path), models=fake_models(), embedder=fake_embedder(embedder)
    )
    async with serving(app) as http:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("ALTER TABLE orca_embedding_cache RENAME TO orca_embedding_cache_away")
            try:
                response = await http.post(
                    "/v1/embeddings", json={"model": "embed-01", "input": ["during the outage"]}
                )
                assert response.status_code == 200
                assert response.headers["x-cache"] == "miss"
                stats = app.state.resources.embeddings.stats
                assert stats.l2_errors >= 1
                again = await http.post(
                    "/v1/embeddings", json={"model": "embed-01", "input": ["another one"]}
                )
                assert again.status_code == 200
                assert (
                    stats.l2_skipped >= 1
                )  # the layer is switched off for a moment, not retried per request
            finally:
                admin.execute(
                    "ALTER TABLE orca_embedding_cache_away RENAME TO orca_embedding_cache"
                )
        cached = await http.post(
            "/v1/embeddings", json={"model": "embed-01", "input": ["during the outage"]}
        )
        assert cached.headers["x-cache"] == "hit"  # L1 kept it
