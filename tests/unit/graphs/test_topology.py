"""Topology snapshots: a change to a graph's shape must be deliberate.

Run with ORCA_TEST_UPDATE_SNAPSHOTS=1 to rewrite them after an intended change.
"""

import os
from pathlib import Path

import pytest

from graphs import REGISTRY
from graphs.deps import GraphDeps

SNAPSHOTS = Path(__file__).parents[2] / "__snapshots__"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_graph_topology_matches_snapshot(name: str, deps: GraphDeps) -> None:
    mermaid = REGISTRY[name].build(deps=deps).get_graph().draw_mermaid()
    snapshot = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("ORCA_TEST_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(mermaid)
    assert snapshot.exists(), f"no snapshot for {name}; run with ORCA_TEST_UPDATE_SNAPSHOTS=1"
    assert mermaid == snapshot.read_text()


def test_registry_serves_rag_and_ingest_with_schemas() -> None:
    assert {"rag", "ingest"} <= set(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.description
        assert spec.request_type.model_json_schema()["properties"]
        assert spec.response_type.model_json_schema()["properties"]
