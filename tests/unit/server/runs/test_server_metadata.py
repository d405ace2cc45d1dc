"""A run's checkpoints name its caller as the server knows it, whatever the caller sends.

Bob sending `metadata: {"tenant": "alice", "langgraph_auth_user_id": "alice"}` (or
`config.configurable.tenant`) wrote "alice" into his checkpoints' metadata: nothing leaked,
but whatever reads checkpoint metadata for audit was misled.
"""

from pathlib import Path

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving
from tests.support_runs import api_keys


async def test_a_caller_cannot_name_another_identity_in_its_checkpoints(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", auth_mode="api_key")
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        (bob,) = await api_keys(settings, "bob")
        client.headers["Authorization"] = f"Bearer {bob}"
        thread_id = (await client.post("/threads", json={})).json()["thread_id"]
        posing = {"tenant": "alice", "langgraph_auth_user_id": "alice", "note": "kept"}
        body = {
            "assistant_id": "rag",
            "input": {"question": "What is Orca?"},
            "metadata": posing,
            "config": {"configurable": {"tenant": "alice"}, "metadata": posing},
        }
        answered = await client.post(f"/threads/{thread_id}/runs/wait", json=body)
        assert answered.status_code == 200, answered.text
        history = (await client.get(f"/threads/{thread_id}/history")).json()
        assert history
        for checkpoint in history:
            metadata = checkpoint["metadata"]
            assert metadata.get("note") == "kept"
            assert metadata.get("tenant") in (None, "bob")
            assert metadata.get("langgraph_auth_user_id") in (None, "bob")
