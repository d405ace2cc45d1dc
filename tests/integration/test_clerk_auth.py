"""Clerk session tokens: the valid one passes, every forgery is 401, the JWKS is not hammered."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.jwks import ISSUER, ORIGIN, jwks_app, new_key, token
from tests.doubles.scripted_chat import scripted_models
from tests.support import live_server, serving

pytestmark = pytest.mark.integration

SIGNING = new_key()
IMPOSTOR = new_key()


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[str, FastAPI]]:
    double = jwks_app({"kid-1": SIGNING})
    with live_server(double) as url:
        yield url, double


@pytest.fixture
async def client(jwks: tuple[str, FastAPI], settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    url, double = jwks
    double.state.fetches = 0
    settings = settings.model_copy(
        update={
            "auth_mode": "clerk",
            "clerk_issuer": ISSUER,
            "clerk_jwks_url": f"{url}/.well-known/jwks.json",
            "clerk_authorized_parties": [ORIGIN],
        }
    )
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


async def call(client: httpx.AsyncClient, bearer: str) -> httpx.Response:
    return await client.post(
        "/v1/embeddings",
        json={"model": "embed-01", "input": "x"},
        headers={"Authorization": f"Bearer {bearer}"},
    )


def unsigned(claims_token: str) -> str:
    """Re-header a token as `alg: none` with no signature."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "kid-1"}).encode()).rstrip(
        b"="
    )
    return f"{header.decode()}.{claims_token.split('.')[1]}."


def hs256_with_public_key() -> str:
    """The key-confusion attack: HMAC-sign with the RSA public key, hoping it is used as a secret."""
    secret = SIGNING.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(data: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    claims = json.loads(base64.urlsafe_b64decode(token(SIGNING, "kid-1").split(".")[1] + "=="))
    signing_input = part({"alg": "HS256", "kid": "kid-1"}) + b"." + part(claims)
    signature = base64.urlsafe_b64encode(
        hmac.new(secret, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


async def test_a_valid_token_is_its_subject(client: httpx.AsyncClient) -> None:
    assert (await call(client, token(SIGNING, "kid-1"))).status_code == 200
    thread = {
        "threadId": "t-clerk",
        "runId": "r",
        "messages": [{"id": "u", "role": "user", "content": "hi"}],
    }
    response = await client.post(
        "/agui/agent", json=thread, headers={"Authorization": f"Bearer {token(SIGNING, 'kid-1')}"}
    )
    assert response.status_code == 200
    store = client._transport.app.state.resources.runs.store  # type: ignore[attr-defined]
    assert await store.get_thread("t-clerk", "user_alice") is not None


async def test_a_token_s_scopes_claim_sets_what_it_may_do(client: httpx.AsyncClient) -> None:
    files = {"input": {"paths": ["/etc/hostname"]}}
    for claim, status in (
        ({}, 403),
        ({"orca_scopes": "run"}, 403),
        ({"orca_scopes": ["run"]}, 403),
    ):
        bearer = {"Authorization": f"Bearer {token(SIGNING, 'kid-1', **claim)}"}
        response = await client.post("/workflows/ingest/invoke", json=files, headers=bearer)
        assert response.status_code == status, response.text
    admin = {"Authorization": f"Bearer {token(SIGNING, 'kid-1', orca_scopes='run ingest admin')}"}
    response = await client.post("/workflows/ingest/invoke", json=files, headers=admin)
    assert response.status_code == 422  # an admin, but no ingest roots on this server
    assert "ORCA_INGEST_ROOTS" in response.text


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda: token(SIGNING, "kid-1", exp=int(time.time()) - 60), id="expired"),
        pytest.param(
            lambda: token(SIGNING, "kid-1", nbf=int(time.time()) + 120), id="not-yet-valid"
        ),
        pytest.param(lambda: token(SIGNING, "kid-1", iss="https://evil.test"), id="wrong-issuer"),
        pytest.param(lambda: token(SIGNING, "kid-1", azp="https://evil.test"), id="wrong-azp"),
        pytest.param(lambda: token(SIGNING, "kid-1", azp=None), id="missing-azp"),
        pytest.param(lambda: token(SIGNING, "kid-1", sub=None), id="missing-sub"),
        pytest.param(lambda: token(SIGNING, "kid-1", sub=""), id="empty-sub"),
        pytest.param(lambda: token(SIGNING, "kid-1", sub="  "), id="blank-sub"),
        pytest.param(lambda: token(SIGNING, "kid-1", sub=7), id="numeric-sub"),
        pytest.param(lambda: token(IMPOSTOR, "kid-1"), id="wrong-key"),
        pytest.param(lambda: unsigned(token(SIGNING, "kid-1")), id="alg-none"),
        pytest.param(lambda: hs256_with_public_key(), id="hs256-with-the-public-key"),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
async def test_every_forgery_is_401(client: httpx.AsyncClient, forged) -> None:  # type: ignore[no-untyped-def]
    response = await call(client, forged())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_a_flood_of_unknown_key_ids_fetches_the_jwks_at_most_once(
    client: httpx.AsyncClient, jwks: tuple[str, FastAPI]
) -> None:
    _, double = jwks
    assert (await call(client, token(SIGNING, "kid-1"))).status_code == 200
    for _ in range(50):
        assert (await call(client, token(IMPOSTOR, f"kid-{uuid.uuid4().hex}"))).status_code == 401
    assert double.state.fetches <= 2  # the first fetch, and at most one refetch per minute
