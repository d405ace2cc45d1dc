"""The service's Prometheus metrics, in a registry the app owns (tests use a fresh one).

Families are `orca_<noun>_<unit|total>`. Labels are fixed and bounded: route templates,
never raw paths; workflow and node names from the registry; model aliases from settings;
no thread or request ids. Children of every known label set are created up front, so
dashboards see 0 before the first event.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
"""Seconds: from a cached embedding (~1 ms) to a slow local-model answer (tens of s)."""
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
SURFACES = ("langserve", "agui")
RUN_OUTCOMES = ("success", "error", "interrupted", "cancelled")
UPSTREAMS = ("llm-01", "llm-02", "embeddings", "qdrant", "postgres")
POOLS = ("checkpoints", "embedding_cache")
POOL_STATES = ("size", "in_use", "waiting")


class Metrics:
    """Every metric family, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None, *, version: str = "0") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            "orca_build_info", "Build of the running service.", ["version"], registry=r
        )
        self.build_info.labels(version).set(1)
        self.http_requests = Counter(
            "orca_http_requests",
            "HTTP requests by route template and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "orca_http_request_duration_seconds",
            "HTTP request latency (streams: whole stream).",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.workflow_runs = Counter(
            "orca_workflow_runs",
            "Workflow runs by surface and outcome.",
            ["workflow", "surface", "outcome"],
            registry=r,
        )
        self.workflow_duration = Histogram(
            "orca_workflow_run_duration_seconds",
            "Workflow run duration.",
            ["workflow", "surface"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.node_duration = Histogram(
            "orca_node_duration_seconds",
            "Graph node duration.",
            ["workflow", "node"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "orca_model_calls",
            "Chat model calls by alias, provider and outcome.",
            ["alias", "provider", "outcome"],
            registry=r,
        )
        self.model_duration = Histogram(
            "orca_model_call_duration_seconds",
            "Chat model call latency.",
            ["alias", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_tokens = Counter(
            "orca_model_tokens",
            "Tokens in and out of chat models, as the provider reports.",
            ["alias", "provider", "direction"],
            registry=r,
        )
        self.embedding_inputs = Counter(
            "orca_embedding_inputs", "Inputs asked of the embedding gateway.", ["model"], registry=r
        )
        self.embedding_cache = Counter(
            "orca_embedding_cache",
            "Embedding cache lookups per layer and result.",
            ["layer", "result"],
            registry=r,
        )
        self.embedding_batch_size = Histogram(
            "orca_embedding_batch_size",
            "Inputs per embedding provider call.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.embedding_queue_depth = Gauge(
            "orca_embedding_queue_depth",
            "Inputs waiting for the embedding provider.",
            ["model"],
            registry=r,
        )
        self.circuit_state = Gauge(
            "orca_circuit_state",
            "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "orca_upstream_retries", "Retries of upstream calls.", ["upstream"], registry=r
        )
        self.db_pool = Gauge(
            "orca_db_pool_connections",
            "PostgreSQL pool connections: size, in use, waiting.",
            ["pool", "state"],
            registry=r,
        )
        self.active_streams = Gauge(
            "orca_active_streams", "Streaming responses in progress.", ["surface"], registry=r
        )
        self.run_slots = Gauge(
            "orca_run_slots",
            "Runs API: this process's run slots (ORCA_RUN_WORKERS) by state.",
            ["state"],
            registry=r,
        )
        self.runs_queued = Gauge(
            "orca_runs_queued",
            "Runs API: runs waiting for a worker, in the whole database (read every sweep).",
            registry=r,
        )

    def precreate(
        self,
        *,
        workflows: Iterable[str],
        nodes: dict[str, Iterable[str]],
        models: dict[str, str],
        embedding_aliases: Iterable[str],
    ) -> None:
        """Create the children of every known label set, at 0."""
        for workflow in workflows:
            for surface in SURFACES:
                self.workflow_duration.labels(workflow, surface)
                for outcome in RUN_OUTCOMES:
                    self.workflow_runs.labels(workflow, surface, outcome)
        for workflow, names in nodes.items():
            for node in names:
                self.node_duration.labels(workflow, node)
        for alias, provider in models.items():
            self.model_duration.labels(alias, provider)
            for outcome in ("success", "error"):
                self.model_calls.labels(alias, provider, outcome)
            for direction in ("input", "output"):
                self.model_tokens.labels(alias, provider, direction)
        for alias in embedding_aliases:
            self.embedding_inputs.labels(alias)
            self.embedding_batch_size.labels(alias)
            self.embedding_queue_depth.labels(alias)
        for layer in ("l1", "l2"):
            for result in ("hit", "miss", "error"):
                self.embedding_cache.labels(layer, result)
        for upstream in UPSTREAMS:
            self.circuit_state.labels(upstream).set(0)
            self.upstream_retries.labels(upstream)
        for pool in POOLS:
            for state in POOL_STATES:
                self.db_pool.labels(pool, state)
        for surface in SURFACES:
            self.active_streams.labels(surface)
