"""Clerk tokens against a JWKS that misbehaves, and claims that are valid JSON but unusable.

The JWKS is served on loopback (`tests.doubles.jwks`); `serve` switches what it answers.
"""

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi import FastAPI, Response

from server.app import create_app
from server.auth.clerk import ClerkVerifier, JwksCache, TokenRejected
from server.embeddings.errors import ApiError
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.jwks import ISSUER, ORIGIN, new_key, token
from tests.doubles.scripted_chat import scripted_models
from tests.support import live_server, serving

SIGNING = new_key()
GOOD = {
    **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING.public_key())),
    "kid": "kid-1",
    "alg": "RS256",
}
BROKEN = {"kty": "RSA", "kid": "k1", "n": "zz", "e": "AQAB"}


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[str, FastAPI]]:
    """A JWKS whose answer is `app.state.mode`: ok, error, slow, list, or broken."""
    double = FastAPI()

    @double.get("/.well-known/jwks.json")
    async def answer() -> Any:
        double.state.fetches += 1
        mode = double.state.mode
        if mode == "error":
            return Response(status_code=500)
        if mode == "slow":
            await asyncio.sleep(1)
        if mode == "list":
            return []
        if mode == "broken":
            return {"keys": [BROKEN, GOOD]}
        return {"keys": [GOOD]}

    with live_server(double) as url:
        yield f"{url}/.well-known/jwks.json", double


@pytest.fixture
def double(jwks: tuple[str, FastAPI]) -> FastAPI:
    jwks[1].state.mode = "ok"
    jwks[1].state.fetches = 0
    return jwks[1]


def verifier(url: str, **cache: Any) -> ClerkVerifier:
    return ClerkVerifier(JwksCache(url, **cache), issuer=ISSUER, authorized_parties=[ORIGIN])


def refused_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


@pytest.mark.parametrize(
    "subject", ["user\x00alice", "user_\ud800", "u" * 16_385], ids=["nul", "surrogate", "long"]
)
async def test_an_unstorable_subject_is_rejected(
    jwks: tuple[str, FastAPI], double: FastAPI, subject: str
) -> None:
    with pytest.raises(TokenRejected, match="no usable subject"):
        await verifier(jwks[0]).verify(token(SIGNING, "kid-1", sub=subject))


async def test_a_long_subject_within_the_bound_still_passes(
    jwks: tuple[str, FastAPI], double: FastAPI
) -> None:
    subject, _ = await verifier(jwks[0]).verify(token(SIGNING, "kid-1", sub="u" * 10_000))
    assert subject == "u" * 10_000


async def test_an_azp_that_is_a_list_is_rejected(
    jwks: tuple[str, FastAPI], double: FastAPI
) -> None:
    with pytest.raises(TokenRejected, match="azp"):
        await verifier(jwks[0]).verify(token(SIGNING, "kid-1", azp=[ORIGIN]))


@pytest.mark.parametrize("mode", ["error", "list"])
async def test_an_unusable_jwks_is_503_then_recovers_within_the_retry_delay(
    jwks: tuple[str, FastAPI], double: FastAPI, mode: str
) -> None:
    clerk = verifier(jwks[0], min_refresh_s=60, retry_failed_s=0.2)
    double.state.mode = mode
    with pytest.raises(ApiError) as refused:
        await clerk.verify(token(SIGNING, "kid-1"))
    assert refused.value.status == 503 and "JWKS" in refused.value.message
    assert refused.value.retry_after is not None
    double.state.mode = "ok"
    await asyncio.sleep(0.25)
    assert (await clerk.verify(token(SIGNING, "kid-1")))[0] == "user_alice"


async def test_a_slow_jwks_is_503_and_its_log_names_the_timeout(
    jwks: tuple[str, FastAPI], double: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    double.state.mode = "slow"
    with caplog.at_level(logging.WARNING, "orca.auth"), pytest.raises(ApiError) as refused:
        await verifier(jwks[0], timeout_s=0.2).verify(token(SIGNING, "kid-1"))
    assert refused.value.status == 503
    assert "ReadTimeout" in caplog.text


async def test_a_flood_while_the_jwks_is_down_fetches_once(
    jwks: tuple[str, FastAPI], double: FastAPI
) -> None:
    clerk = verifier(jwks[0], retry_failed_s=30)
    double.state.mode = "error"
    forged = [clerk.verify(token(SIGNING, f"kid-{n}")) for n in range(50)]
    answers = await asyncio.gather(*forged, return_exceptions=True)
    assert all(isinstance(answer, ApiError) and answer.status == 503 for answer in answers)
    assert double.state.fetches == 1


async def test_a_cached_key_still_works_while_the_jwks_is_down(
    jwks: tuple[str, FastAPI], double: FastAPI
) -> None:
    clerk = verifier(jwks[0], min_refresh_s=0.01, retry_failed_s=0.01)
    await clerk.verify(token(SIGNING, "kid-1"))
    double.state.mode = "error"
    await asyncio.sleep(0.02)
    with pytest.raises(ApiError):
        await clerk.verify(token(SIGNING, "kid-unknown"))
    assert (await clerk.verify(token(SIGNING, "kid-1")))[0] == "user_alice"


async def test_a_broken_key_is_skipped_and_the_good_one_kept(
    jwks: tuple[str, FastAPI], double: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    double.state.mode = "broken"
    clerk = verifier(jwks[0])
    with caplog.at_level(logging.WARNING, "orca.auth"):
        assert (await clerk.verify(token(SIGNING, "kid-1")))[0] == "user_alice"
    assert "skipped key 'k1'" in caplog.text
    with pytest.raises(TokenRejected, match="unknown signing key"):
        await clerk.verify(token(SIGNING, "k1"))


async def test_a_jwks_of_only_broken_keys_is_a_failed_fetch() -> None:
    broken = FastAPI()
    broken.get("/jwks")(lambda: {"keys": [BROKEN]})
    with live_server(broken) as url:
        with pytest.raises(ApiError) as refused:
            await verifier(f"{url}/jwks").verify(token(SIGNING, "k1"))
    assert refused.value.status == 503


async def test_the_api_answers_503_in_openai_s_envelope_while_the_jwks_is_down(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={
            "auth_mode": "clerk",
            "clerk_issuer": ISSUER,
            "clerk_jwks_url": refused_url(),
            "clerk_authorized_parties": [ORIGIN],
        }
    )
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    async with serving(app) as client:
        answer = await client.post(
            "/v1/embeddings",
            json={"model": "embed-01", "input": "x"},
            headers={"Authorization": f"Bearer {token(SIGNING, 'kid-1')}"},
        )
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert answer.json()["error"]["type"] == "server_error"
    assert "JWKS" in answer.json()["error"]["message"]


async def test_the_api_answers_401_for_a_nul_in_the_subject(
    jwks: tuple[str, FastAPI], double: FastAPI, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={
            "auth_mode": "clerk",
            "clerk_issuer": ISSUER,
            "clerk_jwks_url": jwks[0],
            "clerk_authorized_parties": [ORIGIN],
        }
    )
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    bearer = token(SIGNING, "kid-1", sub="a\x00b")
    async with serving(app) as client:
        answer = await client.post(
            "/v1/embeddings",
            json={"model": "embed-01", "input": "x"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
    assert answer.status_code == 401
    assert "no usable subject" in answer.json()["error"]["message"]
