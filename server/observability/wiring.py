"""Connect the lifespan's resources to the metrics: models, gateway, pools, known labels."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from server.embeddings.gateway import EmbeddingGateway, GatewayObserver
from server.observability.metrics import Metrics


class EmbeddingMetrics(GatewayObserver):
    """The gateway's hooks, as metric updates for one model alias."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.metrics = metrics
        self.model = model

    def inputs(self, count: int) -> None:
        """Count inputs asked of the gateway."""
        self.metrics.embedding_inputs.labels(self.model).inc(count)

    def cache(self, layer: str, result: str, count: int) -> None:
        """Count lookups of one layer."""
        if count:
            self.metrics.embedding_cache.labels(layer, result).inc(count)

    def batch(self, size: int) -> None:
        """Record one provider call's size."""
        self.metrics.embedding_batch_size.labels(self.model).observe(size)


def label_chat_models(
    chat: dict[str, BaseChatModel], providers: dict[str, str]
) -> dict[str, BaseChatModel]:
    """Give each alias its own model object whose metadata names the alias and provider.

    LangChain hands a model's `metadata` to callbacks, which is how model calls are counted
    per alias. Two aliases may share one model (the local SmolLM2): a shallow copy keeps
    the loaded weights shared and only the metadata apart.
    """
    return {
        alias: model.model_copy(
            update={
                "metadata": {
                    **(model.metadata or {}),
                    "orca_alias": alias,
                    "orca_provider": providers.get(alias, "unknown"),
                }
            }
        )
        for alias, model in chat.items()
    }


def watch_resources(
    metrics: Metrics,
    *,
    gateway: EmbeddingGateway,
    checkpoint_pool: Any | None,
    graphs: dict[str, Any],
    providers: dict[str, str],
) -> None:
    """Create known label children and read gauges from live objects at scrape time."""
    metrics.precreate(
        workflows=graphs,
        nodes={
            name: [node for node in graph.get_graph().nodes if not node.startswith("__")]
            for name, graph in graphs.items()
        },
        models={
            alias: providers.get(alias, "unknown") for alias in providers if alias.startswith("llm")
        },
        embedding_aliases=gateway.aliases[:1],
    )
    metrics.embedding_queue_depth.labels(gateway.aliases[0]).set_function(
        lambda: gateway.batcher.queued
    )
    pools = {
        "checkpoints": checkpoint_pool,
        "embedding_cache": getattr(gateway.shared, "pool", None),
    }
    for name, pool in pools.items():
        if pool is None:
            continue
        gauge = metrics.db_pool
        gauge.labels(name, "size").set_function(lambda p=pool: p.get_stats().get("pool_size", 0))
        gauge.labels(name, "in_use").set_function(
            lambda p=pool: (
                p.get_stats().get("pool_size", 0) - p.get_stats().get("pool_available", 0)
            )
        )
        gauge.labels(name, "waiting").set_function(
            lambda p=pool: p.get_stats().get("requests_waiting", 0)
        )
