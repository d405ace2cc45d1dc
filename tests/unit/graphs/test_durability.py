"""Every workflow writes a step's checkpoint before the next step starts."""

from langgraph._internal._constants import CONFIG_KEY_DURABILITY
from langgraph.checkpoint.memory import InMemorySaver

from graphs import DURABILITY, REGISTRY, build_all
from graphs.deps import GraphDeps


async def test_every_workflow_runs_with_sync_durability(deps: GraphDeps) -> None:
    graphs = build_all(deps, InMemorySaver())
    assert DURABILITY == "sync"
    assert set(graphs) == set(REGISTRY)
    for graph in graphs.values():
        assert graph.config is not None
        assert graph.config["configurable"][CONFIG_KEY_DURABILITY] == "sync"
