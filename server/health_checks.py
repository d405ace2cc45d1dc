"""Probe each dependency: the checkpointer, Qdrant, and every model alias."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from server.resources import Resources
from server.shown_url import shown_url

PROBE_TIMEOUT_S = 3.0


def model_probe_url(model: Any) -> str | None:
    """Return a cheap GET that proves a remote model server is up; None when in-process."""
    model = getattr(model, "inner", model)  # under its guard (`server.resilience.chat`)
    openai_base = getattr(model, "openai_api_base", None)
    if openai_base:
        return f"{str(openai_base).rstrip('/')}/models"
    ollama_base = getattr(model, "base_url", None)
    if ollama_base:
        return f"{str(ollama_base).rstrip('/')}/api/version"
    return None


async def probe(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """Run one check under a timeout and report status, latency and the error if any."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
    except TimeoutError:
        error: str | None = f"no answer within {PROBE_TIMEOUT_S:.0f}s"
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        error = f"{type(exc).__name__}: {exc}".strip()
    else:
        error = None
    report: dict[str, Any] = {
        "status": "up" if error is None else "down",
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if error:
        report["error"] = error
    return report


async def check_all(resources: Resources) -> dict[str, dict[str, Any]]:
    """Probe every dependency concurrently."""
    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        f"checkpointer:{resources.checkpoints.kind}": resources.checkpoints.ping,
        "qdrant": resources.knowledge_base.ping,
    }
    for alias in resources.embeddings.aliases:
        checks[f"model:{alias}"] = resources.embeddings.embedder.ping
    if resources.embeddings.fallback is not None:
        checks["model:embeddings-fallback"] = resources.embeddings.fallback.ping
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
        for alias, model in resources.models.chat.items():
            checks[f"model:{alias}"] = _model_check(client, model_probe_url(model))
        names = list(checks)
        reports = await asyncio.gather(*(probe(checks[name]) for name in names))
    result = dict(zip(names, reports, strict=True))
    for alias, label in resources.models.providers.items():
        result[f"model:{alias}"]["provider"] = label
    _add_circuits(resources, result)
    return result


def _add_circuits(resources: Resources, result: dict[str, dict[str, Any]]) -> None:
    """Add each upstream's circuit and bulkhead to the check of the dependency it guards.

    The probe says whether the server answers now; the circuit says how its real calls
    went (a server can answer `/models` and fail every completion).
    """
    if resources.upstreams is None:
        return
    checks = {
        "embeddings": [f"model:{alias}" for alias in resources.embeddings.aliases],
        "qdrant": ["qdrant"],
    }
    for name, report in resources.upstreams.report().items():
        for check in checks.get(name, [f"model:{name}"]):
            if check in result:
                result[check]["circuit"] = report


def _model_check(client: httpx.AsyncClient, url: str | None) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if url is None:
            return  # in-process: loaded in the lifespan, so it is there
        response = await client.get(url)
        if response.status_code >= 500:
            raise RuntimeError(f"{shown_url(url)} answered {response.status_code}")

    return check
