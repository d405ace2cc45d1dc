"""CORS only for the configured origins, with the headers AG-UI clients send and read."""

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

APP_ORIGIN = "https://chat.example"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization,x-request-id",
    }


async def test_no_origins_configured_means_no_cors_headers(settings: Settings) -> None:
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        response = await client.get("/agui", headers={"Origin": APP_ORIGIN})
        options = await client.options("/agui/agent", headers=preflight(APP_ORIGIN))
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert not any(name.startswith("access-control-") for name in options.headers)


async def test_a_page_may_rejoin_a_stream_with_last_event_id(settings: Settings) -> None:
    settings = settings.model_copy(update={"cors_origins": [APP_ORIGIN]})
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    asked = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id",
    }
    async with serving(app) as client:
        allowed = await client.options("/threads/t/runs/r/stream", headers=asked)
    assert allowed.status_code == 200
    assert "last-event-id" in allowed.headers["access-control-allow-headers"].lower()


async def test_a_page_may_page_threads_and_ask_for_a_minimal_answer(settings: Settings) -> None:
    settings = settings.model_copy(update={"cors_origins": [APP_ORIGIN]})
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    asked = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type,prefer",
    }
    async with serving(app) as client:
        allowed = await client.options("/threads/t", headers=asked)
        answer = await client.get("/agui", headers={"Origin": APP_ORIGIN})
    assert allowed.status_code == 200
    assert "prefer" in allowed.headers["access-control-allow-headers"].lower()
    exposed = answer.headers["access-control-expose-headers"].lower()
    assert "x-pagination-total" in exposed and "x-pagination-next" in exposed


async def test_a_configured_origin_may_call_and_read_the_ids_and_waits(settings: Settings) -> None:
    settings = settings.model_copy(update={"cors_origins": [APP_ORIGIN], "rate_limit": "1/hour"})
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        allowed = await client.options("/agui/agent", headers=preflight(APP_ORIGIN))
        other = await client.options("/agui/agent", headers=preflight("https://evil.example"))
        first = await client.get("/agui", headers={"Origin": APP_ORIGIN})
        limited = await client.get("/agui", headers={"Origin": APP_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    assert {"content-type", "authorization", "x-request-id"} <= set(allowed_headers.split(", "))
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert first.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = first.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "retry-after" in exposed
    assert "content-location" in exposed  # the JS SDK's run id, for useStream to re-attach
    # A refusal is readable by the page too: CORS wraps the rate limiter's 429.
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_a_page_may_delete_patch_and_put_too(settings: Settings) -> None:
    """Pages delete threads, patch them and put store items: their preflights were 400."""
    settings = settings.model_copy(update={"cors_origins": [APP_ORIGIN]})
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        for method, path in (
            ("DELETE", "/threads/t"),
            ("PATCH", "/threads/t"),
            ("PUT", "/store/items"),
        ):
            asked = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": method}
            allowed = await client.options(path, headers=asked)
            assert allowed.status_code == 200, (method, allowed.text)
            assert method in allowed.headers["access-control-allow-methods"]
