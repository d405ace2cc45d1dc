"""Tracing, off unless configured: LangSmith for LangChain runs, OpenTelemetry for requests.

Nothing here reaches out by default. LangChain traces to LangSmith whenever
`LANGSMITH_TRACING` (or the older `LANGCHAIN_TRACING_V2`) is true in the environment; only
`ORCA_LANGSMITH_TRACING` decides that here, so a stray variable cannot send prompts away.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from server.settings import Settings

log = logging.getLogger("orca")

LANGCHAIN_TRACING_VARIABLES = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")


def configure_langsmith(settings: Settings) -> None:
    """Turn LangChain's LangSmith tracing on or off, as the settings say."""
    enabled = "true" if settings.langsmith_tracing else "false"
    for name in LANGCHAIN_TRACING_VARIABLES:
        os.environ[name] = enabled
    if settings.langsmith_tracing and not os.environ.get("LANGSMITH_API_KEY"):
        log.warning("ORCA_LANGSMITH_TRACING is on but LANGSMITH_API_KEY is not set")


def open_tracer_provider(settings: Settings) -> Any | None:
    """Return an OpenTelemetry tracer provider exporting over OTLP/HTTP, or None.

    Raises:
        RuntimeError: when an endpoint is set but the `otel` extra is not installed.
    """
    if settings.otel_endpoint is None:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(
            "ORCA_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'citadel-orca[otel]'"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": "citadel-orca"}))
    endpoint = f"{str(settings.otel_endpoint).rstrip('/')}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider
