"""Rate limits per caller and route class: 429 with Retry-After, in the surface's envelope."""

import logging
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from limits import parse_many
from starlette.requests import Request

from server.app import create_app
from server.guards.admission import RouteClass, classify
from server.guards.rates import RateLimiter
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

REDIS = ("127.0.0.1", 6379)


@asynccontextmanager
async def client_with(settings: Settings, **limits: Any) -> AsyncIterator[httpx.AsyncClient]:
    limited = Settings(data_dir=settings.data_dir, **limits)  # validated, unlike model_copy
    app = create_app(limited, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


def redis_is_up() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(REDIS) == 0


@pytest.mark.parametrize(
    ("method", "template", "kind"),
    [
        ("GET", "/health", RouteClass.EXEMPT),
        ("GET", "/health/detailed", RouteClass.EXEMPT),
        ("GET", "/metrics", RouteClass.EXEMPT),
        ("GET", "/ok", RouteClass.EXEMPT),
        ("GET", "/info", RouteClass.EXEMPT),
        ("GET", "/agui", RouteClass.GENERAL),
        ("POST", "/agui/{workflow}", RouteClass.STREAM),
        ("POST", "/workflows/rag/invoke", RouteClass.RUN),
        ("POST", "/workflows/rag/c/{config_hash}/batch", RouteClass.RUN),
        ("POST", "/workflows/rag/stream", RouteClass.STREAM),
        ("POST", "/workflows/rag/c/{config_hash}/stream_events", RouteClass.STREAM),
        ("POST", "/workflows/rag/stream_log", RouteClass.STREAM),
        ("GET", "/workflows/rag/input_schema", RouteClass.GENERAL),
        ("GET", "/workflows/rag/playground/{file_path:path}", RouteClass.GENERAL),
        ("POST", "/workflows/rag/token_feedback", RouteClass.GENERAL),
        ("POST", "/v1/embeddings", RouteClass.GENERAL),
        ("POST", "/threads/{thread_id}/runs", RouteClass.RUN),
        ("POST", "/threads/{thread_id}/runs/wait", RouteClass.RUN),
        ("POST", "/runs/wait", RouteClass.RUN),
        ("POST", "/runs/batch", RouteClass.RUN),
        ("POST", "/runs", RouteClass.RUN),
        ("POST", "/v1/orchestrate", RouteClass.RUN),
        ("POST", "/threads/{thread_id}/runs/stream", RouteClass.STREAM),
        ("POST", "/runs/stream", RouteClass.STREAM),
        ("GET", "/threads/{thread_id}/runs/{run_id}/stream", RouteClass.STREAM),
        ("GET", "/threads/{thread_id}/stream", RouteClass.STREAM),
        ("POST", "/threads", RouteClass.GENERAL),
        ("POST", "/threads/search", RouteClass.GENERAL),
        ("POST", "/threads/prune", RouteClass.GENERAL),
        ("GET", "/threads/{thread_id}/runs", RouteClass.GENERAL),
        ("POST", "/threads/{thread_id}/runs/{run_id}/cancel", RouteClass.GENERAL),
        ("POST", "/runs/cancel", RouteClass.GENERAL),
    ],
)
def test_route_classes(method: str, template: str, kind: RouteClass) -> None:
    assert classify(method, template) is kind


async def test_the_limiter_allows_the_limit_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter()
    limits = parse_many("2/hour")
    assert [await limiter.hit(limits, "all", "k") for _ in range(2)] == [None, None]
    wait = await limiter.hit(limits, "all", "k")
    assert wait is not None and 1 <= wait <= 3600
    assert await limiter.hit(limits, "all", "another key") is None


async def test_over_the_limit_is_429_with_retry_after(settings: Settings) -> None:
    async with client_with(settings, rate_limit="3/hour") as client:
        assert [(await client.get("/agui")).status_code for _ in range(3)] == [200] * 3
        refused = await client.get("/agui")
        openai = await client.get("/v1/models")
        health = await client.get("/health")
    assert refused.status_code == 429
    assert "Too many requests" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["x-should-retry"] == "true"
    assert openai.status_code == 429
    assert openai.json() == {
        "error": {
            "message": openai.json()["error"]["message"],
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert openai.headers["retry-after"] and openai.headers["x-should-retry"] == "true"
    assert health.status_code == 200  # probes are never limited


async def test_runs_have_their_own_limit_on_top(settings: Settings) -> None:
    async with client_with(settings, rate_limit_runs="1/hour") as client:
        body = {"input": {"texts": ["Falcon."]}}
        first = await client.post("/workflows/ingest/invoke", json=body)
        second = await client.post("/workflows/ingest/batch", json={"inputs": [body["input"]]})
        listing = await client.get("/agui")
    assert first.status_code == 200, first.text
    assert second.status_code == 429 and "Too many runs" in second.json()["detail"]
    assert listing.status_code == 200


async def test_a_batch_counts_each_of_its_runs(settings: Settings) -> None:
    async with client_with(settings, rate_limit_runs="3/hour") as client:
        two = {"inputs": [{"texts": ["Falcon."]}, {"texts": ["Osprey."]}]}
        first = await client.post("/workflows/ingest/batch", json=two)
        second = await client.post("/workflows/ingest/batch", json=two)  # 2 + 2 > 3
        third = await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Kite."]}})
        run = {"assistant_id": "ingest", "input": {"texts": ["Kestrel."]}}
        fourth = await client.post("/runs/batch", json=[run])
        too_big = await client.post("/runs/batch", json=[run] * 4)  # never fits in 3/hour
    assert first.status_code == 200, first.text
    assert second.status_code == 429 and "Too many runs" in second.json()["detail"]
    assert third.status_code == 200, third.text  # a refused batch counted nothing
    assert fourth.status_code == 429, fourth.text  # the 4th run of the hour
    assert too_big.status_code == 429
    assert "send smaller batches" in too_big.json()["detail"]
    assert "retry-after" not in too_big.headers  # waiting would not help


async def test_each_client_behind_a_trusted_proxy_has_its_own_counter(settings: Settings) -> None:
    async with client_with(settings, rate_limit="1/hour", trusted_proxies=["127.0.0.1"]) as client:

        async def get(client_ip: str) -> int:
            response = await client.get("/agui", headers={"X-Forwarded-For": client_ip})
            return response.status_code

        assert [await get("198.51.100.1"), await get("198.51.100.1")] == [200, 429]
        assert await get("198.51.100.2") == 200


async def test_a_forged_forwarded_for_does_not_buy_a_new_counter(settings: Settings) -> None:
    async with client_with(settings, rate_limit="1/hour") as client:  # no trusted proxy
        first = await client.get("/agui", headers={"X-Forwarded-For": "198.51.100.1"})
        forged = await client.get("/agui", headers={"X-Forwarded-For": "198.51.100.2"})
    assert (first.status_code, forged.status_code) == (200, 429)


async def test_the_key_function_plugs_in(settings: Settings) -> None:
    async def by_header(request: Request) -> str:
        return request.headers.get("x-caller", "nobody")

    app = create_app(
        settings.model_copy(update={"rate_limit": "1/hour"}),
        models=fake_models(),
        embedder=fake_embedder(),
        limit_key=by_header,
    )
    async with serving(app) as client:
        codes = [
            (await client.get("/agui", headers={"X-Caller": caller})).status_code
            for caller in ("a", "a", "b")
        ]
    assert codes == [200, 429, 200]


@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
async def test_processes_sharing_redis_share_the_counters(settings: Settings) -> None:
    caller = f"test-{uuid.uuid4()}"  # a fresh counter however often the suite runs

    async def same_caller(request: Request) -> str:
        return caller

    shared = settings.model_copy(
        update={"rate_limit": "2/minute", "redis_url": "redis://127.0.0.1:6379/0"}
    )
    elsewhere = shared.model_copy(update={"data_dir": shared.data_dir / "two"})  # own Qdrant dir
    one = create_app(shared, models=fake_models(), embedder=fake_embedder(), limit_key=same_caller)
    two = create_app(
        elsewhere, models=fake_models(), embedder=fake_embedder(), limit_key=same_caller
    )
    async with serving(one) as first, serving(two) as second:
        codes = [
            (await first.get("/agui")).status_code,
            (await second.get("/agui")).status_code,
            (await first.get("/agui")).status_code,
        ]
    assert codes == [200, 200, 429]


async def test_an_unreachable_redis_fails_open_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    async with client_with(
        settings, rate_limit="1/hour", redis_url="redis://127.0.0.1:1/0"
    ) as client:
        with caplog.at_level(logging.WARNING, logger="orca.guards"):
            codes = [(await client.get("/agui")).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    warnings = [r for r in caplog.records if "rate limits not applied" in r.getMessage()]
    assert len(warnings) == 1  # once, not per request


async def test_with_api_keys_each_identity_has_its_own_counter(settings: Settings) -> None:
    limited = Settings(data_dir=settings.data_dir, auth_mode="api_key", rate_limit="2/hour")
    app = create_app(limited, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        keys = app.state.resources.auth.keys
        alice, _ = await keys.create(name="alice's app", owner="alice")
        bob, _ = await keys.create(name="bob's app", owner="bob")

        async def models(headers: dict[str, str]) -> int:
            return (await client.get("/v1/models", headers=headers)).status_code

        as_alice, as_bob = {"X-API-Key": alice}, {"Authorization": f"Bearer {bob}"}
        forged = {"X-API-Key": "orca_sk_00000000_not-a-real-key"}
        # Same address, three callers: alice and bob by identity, the forger by address.
        assert [await models(as_alice), await models(as_alice), await models(as_alice)] == [
            200,
            200,
            429,
        ]
        assert await models(as_bob) == 200
        assert [await models(forged), await models(forged), await models(forged)] == [
            401,
            401,
            429,  # failed attempts are limited too
        ]
        # POST /v1/embeddings is served ahead of FastAPI's routers: keyed by identity too.
        embed = {"model": "embed-01", "input": ["a"]}
        assert (await client.post("/v1/embeddings", json=embed, headers=as_bob)).status_code == 200
        refused = await client.post("/v1/embeddings", json=embed, headers=as_alice)
        assert refused.status_code == 429, refused.text


async def test_a_failed_store_is_left_alone_for_a_while() -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0")  # refused at once
    attempts = 0
    hit = limiter._hit

    async def counted(*args: Any) -> float | None:
        nonlocal attempts
        attempts += 1
        return await hit(*args)

    limiter._hit = counted  # type: ignore[method-assign]
    limits = parse_many("1/hour")
    assert [await limiter.hit(limits, "all", "k") for _ in range(3)] == [None, None, None]
    assert attempts == 1  # the next two went uncounted without a connection attempt
    await limiter.aclose()
