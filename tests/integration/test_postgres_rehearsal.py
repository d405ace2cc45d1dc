"""On PostgreSQL too, a write the graph cannot apply is refused and leaves the thread as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

pytestmark = pytest.mark.integration


async def test_a_refused_state_update_leaves_a_postgres_thread_as_it_was(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        postgres_url=postgres_url,
        graphs={"bench": "evals.bench_graph:build_graph"},
        rate_limit="",
        rate_limit_runs="",
    )
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        run = {"assistant_id": "bench", "input": {"count": 0}, "interrupt_before": ["second"]}
        thread = (await client.post("/threads", json={})).json()["thread_id"]
        assert (await client.post(f"/threads/{thread}/runs/wait", json=run)).status_code == 200
        before = (await client.get(f"/threads/{thread}/history")).json()

        bad = {"values": {"trace": "notalist"}, "as_node": "second"}
        refused = await client.post(f"/threads/{thread}/state", json=bad)
        assert refused.status_code == 422, refused.text
        unknown = {"values": {"count": 5}, "checkpoint_id": "nonexist"}
        assert (await client.post(f"/threads/{thread}/state", json=unknown)).status_code == 404
        assert (await client.get(f"/threads/{thread}/history")).json() == before

        resumed = await client.post(f"/threads/{thread}/runs/wait", json={"assistant_id": "bench"})
        assert resumed.json() == {"count": 2, "trace": ["first", "second"]}

        steps = [{"updates": [{"as_node": "first", "values": {"trace": "x"}}]}]
        body = {"thread_id": "s2", "metadata": {"graph_id": "bench"}, "supersteps": steps}
        assert (await client.post("/threads", json=body)).status_code == 422
        assert (await client.get("/threads/s2")).status_code == 404
