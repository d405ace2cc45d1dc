"""Workflow runs, graph nodes and chat-model calls: metrics and one log line per run.

Graph nodes and model calls are observed through a LangChain callback handler passed in
each run's config, so every graph is covered without touching its nodes. Chat models carry
their alias and provider in `metadata` (set by the lifespan), which LangChain hands to the
handler; the workflow name travels in the run's metadata.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from server.observability.metrics import Metrics

log = logging.getLogger("orca.runs")


class GraphCallbacks(AsyncCallbackHandler):
    """Time graph nodes and chat-model calls; count model tokens and failures."""

    run_inline = True
    raise_error = False

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._nodes: dict[UUID, tuple[str, str, float]] = {}
        self._models: dict[UUID, tuple[str, str, float]] = {}

    async def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Start the clock of a graph node (a chain named after its `langgraph_node`)."""
        metadata = kwargs.get("metadata") or {}
        node = metadata.get("langgraph_node")
        if node and kwargs.get("name") == node:
            workflow = str(metadata.get("orca_workflow", "unknown"))
            self._nodes[run_id] = (workflow, str(node), time.perf_counter())

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Stop a node's clock."""
        self._node_done(run_id)

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Stop a node's clock (interrupts and failures take time too)."""
        self._node_done(run_id)

    def _node_done(self, run_id: UUID) -> None:
        started = self._nodes.pop(run_id, None)
        if started:
            workflow, node, t0 = started
            self.metrics.node_duration.labels(workflow, node).observe(time.perf_counter() - t0)

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Start a model call's clock, labelled by the model's alias and provider."""
        metadata = kwargs.get("metadata") or {}
        alias = str(metadata.get("orca_alias", "unknown"))
        provider = str(metadata.get("orca_provider", "unknown"))
        self._models[run_id] = (alias, provider, time.perf_counter())

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a successful call and its tokens."""
        started = self._models.pop(run_id, None)
        if not started:
            return
        alias, provider, t0 = started
        self.metrics.model_calls.labels(alias, provider, "success").inc()
        self.metrics.model_duration.labels(alias, provider).observe(time.perf_counter() - t0)
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    tokens = self.metrics.model_tokens
                    tokens.labels(alias, provider, "input").inc(usage.get("input_tokens", 0))
                    tokens.labels(alias, provider, "output").inc(usage.get("output_tokens", 0))

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a failed call."""
        started = self._models.pop(run_id, None)
        if started:
            alias, provider, t0 = started
            self.metrics.model_calls.labels(alias, provider, "error").inc()
            self.metrics.model_duration.labels(alias, provider).observe(time.perf_counter() - t0)


@dataclass
class RunRecord:
    """What a surface learns about a run while it goes; `outcome` is set at the end."""

    outcome: str = "success"


class RunTelemetry:
    """Metrics and the log line of workflow runs, for every surface."""

    def __init__(self, metrics: Metrics, *, enabled: bool = True) -> None:
        self.metrics = metrics
        self.enabled = enabled
        self.callbacks = GraphCallbacks(metrics)

    def config_for(self, workflow: str, config: RunnableConfig | None = None) -> RunnableConfig:
        """Return `config` with the callbacks and the workflow name added."""
        if not self.enabled:
            return config or {}
        extra: RunnableConfig = {
            "callbacks": [self.callbacks],
            "metadata": {"orca_workflow": workflow},
        }
        return merge_configs(config, extra)

    @asynccontextmanager
    async def run(
        self,
        workflow: str,
        surface: str,
        thread_id: str,
        *,
        streaming: bool = False,
        identity: str = "anonymous",
    ) -> AsyncIterator[RunRecord]:
        """Time a run; an exception or a cancellation decides its outcome.

        `identity` is whom the run is for (its owner), named in the run's log line.
        """
        record = RunRecord()
        if not self.enabled:
            yield record
            return
        started = time.perf_counter()
        if streaming:
            self.metrics.active_streams.labels(surface).inc()
        try:
            yield record
        except (asyncio.CancelledError, GeneratorExit):
            record.outcome = "cancelled"
            raise
        except Exception:
            record.outcome = "error"
            raise
        finally:
            seconds = time.perf_counter() - started
            if streaming:
                self.metrics.active_streams.labels(surface).dec()
            self.metrics.workflow_runs.labels(workflow, surface, record.outcome).inc()
            self.metrics.workflow_duration.labels(workflow, surface).observe(seconds)
            log.info(
                "run",
                extra={
                    "workflow": workflow,
                    "surface": surface,
                    "thread_id": thread_id,
                    "outcome": record.outcome,
                    "duration_ms": round(seconds * 1000, 1),
                    "identity": identity,
                },
            )
