"""With auth on, `/v1/embeddings` answers a caller from its own cached vectors only.

The cache is keyed by text: shared, a hit (`X-Cache`, and the time it saves) told one
caller that another, or an ingest, had embedded that exact text.
"""

from pathlib import Path

import httpx

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import CountingEmbedder, fake_embedder
from tests.support import fake_models, serving
from tests.support_runs import api_keys

SECRET = "Project Heron's codename is BLUEBIRD."


async def embed(client: httpx.AsyncClient, key: str | None, text: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "embed-01", "input": [text]}
    response = await client.post("/v1/embeddings", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def test_a_caller_never_hits_another_caller_s_vectors(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", auth_mode="api_key")
    embedder = CountingEmbedder()
    app = create_app(settings, models=fake_models(), embedder=fake_embedder(embedder))
    async with serving(app) as client:
        alice, bob = await api_keys(settings, "alice", "bob")
        assert (await embed(client, alice, SECRET)).headers["X-Cache"] == "miss"
        assert (await embed(client, alice, SECRET)).headers["X-Cache"] == "hit"
        answered = await embed(client, bob, SECRET)
        assert answered.headers["X-Cache"] == "miss"
        assert (await embed(client, bob, SECRET)).headers["X-Cache"] == "hit"
        first = (await embed(client, alice, SECRET)).json()["data"][0]["embedding"]
        assert answered.json()["data"][0]["embedding"] == first  # the same vector, computed


async def test_without_auth_every_caller_shares_the_cache(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=fake_models(), embedder=fake_embedder()
    )
    async with serving(app) as client:
        assert (await embed(client, None, SECRET)).headers["X-Cache"] == "miss"
        assert (await embed(client, "ignored", SECRET)).headers["X-Cache"] == "hit"
