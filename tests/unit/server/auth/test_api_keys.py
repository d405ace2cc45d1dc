"""API keys, and thread ownership across identities on every surface (a BOLA matrix)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from server.app import create_app
from server.cli import app as cli
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import serving
from tests.unit.server.agui.support import run_input, stream, user


@dataclass
class Secured:
    client: httpx.AsyncClient
    alice: dict[str, str]
    bob: dict[str, str]
    app: object


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[Secured]:
    settings = settings.model_copy(update={"auth_mode": "api_key"})
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        keys = app.state.resources.auth.keys
        alice, _ = await keys.create(name="alice's app", owner="alice")
        bob, _ = await keys.create(name="bob's app", owner="bob")
        yield Secured(client, {"Authorization": f"Bearer {alice}"}, {"X-API-Key": bob}, app)


async def test_no_or_bad_credentials_are_401_in_each_surfaces_envelope(secured: Secured) -> None:
    v1 = await secured.client.post("/v1/embeddings", json={"model": "embed-01", "input": "x"})
    assert v1.status_code == 401 and v1.json()["error"]["code"] == "invalid_api_key"
    assert v1.headers["www-authenticate"].startswith("Bearer")
    agui = await secured.client.post("/agui/agent", json=run_input("t-x", [user("hi")]))
    assert agui.status_code == 401 and "detail" in agui.json()
    forged = {"Authorization": "Bearer orca_sk_00000000_not-a-real-key"}
    langserve = await secured.client.post(
        "/workflows/rag/invoke", json={"input": {"question": "q"}}, headers=forged
    )
    assert langserve.status_code == 401
    health = await secured.client.get("/health")
    assert health.status_code == 200  # liveness stays open


async def test_a_key_works_until_it_is_revoked_and_only_its_digest_is_stored(
    secured: Secured,
) -> None:
    ok = await secured.client.post(
        "/v1/embeddings", json={"model": "embed-01", "input": "x"}, headers=secured.alice
    )
    assert ok.status_code == 200
    keys = secured.app.state.resources.auth.keys  # type: ignore[attr-defined]
    stored = await keys.db.fetch("SELECT digest FROM orca_api_keys")
    secret = secured.alice["Authorization"].removeprefix("Bearer ")
    assert all(secret.encode() not in bytes(row[0]) and len(bytes(row[0])) == 32 for row in stored)
    alice_id = secret.split("_")[2]
    assert await keys.revoke(alice_id)
    refused = await secured.client.post(
        "/v1/embeddings", json={"model": "embed-01", "input": "x"}, headers=secured.alice
    )
    assert refused.status_code == 401


async def test_another_identitys_thread_is_404_on_every_surface(secured: Secured) -> None:
    client, alice, bob = secured.client, secured.alice, secured.bob
    first = await client.post(
        "/agui/agent", json=run_input("t-alice", [user("hello")]), headers=alice
    )
    assert first.status_code == 200
    body = {"input": {"question": "q"}, "config": {"configurable": {"thread_id": "t-alice-rag"}}}
    assert (await client.post("/workflows/rag/invoke", json=body, headers=alice)).status_code == 200
    for thread in ("t-alice", "t-alice-rag"):
        attempts = [
            client.post("/agui/agent", json=run_input(thread, [user("mine now")]), headers=bob),
            client.post(
                "/agui/agent",
                json=run_input(thread, [], resume=[{"interruptId": "x", "status": "resolved"}]),
                headers=bob,
            ),
            client.post("/agui/rag-chat", json=run_input(thread, [user("q")]), headers=bob),
        ]
        for route in ("invoke", "stream", "stream_events", "stream_log"):
            attempts.append(
                client.post(
                    f"/workflows/rag/{route}",
                    json={**body, "config": {"configurable": {"thread_id": thread}}},
                    headers=bob,
                )
            )
        attempts.append(
            client.post(
                "/workflows/agent/batch",
                json={
                    "inputs": [{"messages": [{"type": "human", "content": "x"}]}],
                    "config": {"configurable": {"thread_id": thread}},
                },
                headers=bob,
            )
        )
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, (thread, response.request.url, response.text)
    again = await stream(
        client, "agent", run_input("t-alice", [*first_messages(first), user("still mine")])
    )  # no key
    assert again.status == 401


def first_messages(response: httpx.Response) -> list[dict]:
    import json

    snapshots = [
        json.loads(line[6:]) for line in response.text.splitlines() if '"MESSAGES_SNAPSHOT"' in line
    ]
    return snapshots[-1]["messages"]


async def test_documents_are_private_to_the_identity_that_ingested_them(secured: Secured) -> None:
    client, alice, bob = secured.client, secured.alice, secured.bob
    ingest = {"input": {"texts": ["Bob's secret: the vault code is 4711."], "paths": []}}
    assert (
        await client.post("/workflows/ingest/invoke", json=ingest, headers=bob)
    ).status_code == 200
    question = {"input": {"question": "What is the vault code?"}}
    mine = (await client.post("/workflows/rag/invoke", json=question, headers=bob)).json()["output"]
    theirs = (await client.post("/workflows/rag/invoke", json=question, headers=alice)).json()[
        "output"
    ]
    assert mine["sources"] and "4711" in mine["sources"][0]["text"]
    assert theirs["sources"] == []


def test_the_keys_command_creates_lists_and_revokes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"ORCA_DATA_DIR": str(tmp_path / "var")}
    created = runner.invoke(cli, ["keys", "create", "--owner", "carol", "--name", "ci"], env=env)
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("orca_sk_")
    key_id = key.split("_")[2]
    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert key_id in listed.output and "carol" in listed.output and key not in listed.output
    assert runner.invoke(cli, ["keys", "revoke", key_id], env=env).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", key_id], env=env).exit_code == 1


async def test_keys_and_tokens_never_reach_the_logs(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    bad = "orca_sk_deadbeef_this-secret-must-not-be-logged"
    with caplog.at_level(logging.DEBUG):
        await secured.client.post(
            "/v1/embeddings",
            json={"model": "embed-01", "input": "x"},
            headers={"Authorization": f"Bearer {bad}"},
        )
        await secured.client.post(
            "/v1/embeddings", json={"model": "embed-01", "input": "x"}, headers=secured.alice
        )
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert bad not in logged
    assert secured.alice["Authorization"].removeprefix("Bearer ") not in logged


async def test_no_auth_off_loopback_is_a_loud_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    exposed = settings.model_copy(update={"host": "0.0.0.0"})
    with caplog.at_level(logging.WARNING, logger="orca"):
        async with serving(create_app(exposed, models=scripted_models(), embedder=fake_embedder())):
            pass
    assert any("ORCA_AUTH_MODE=none on 0.0.0.0" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="orca"):
        async with serving(
            create_app(settings, models=scripted_models(), embedder=fake_embedder())
        ):
            pass
    assert not any("ORCA_AUTH_MODE=none" in record.getMessage() for record in caplog.records)
