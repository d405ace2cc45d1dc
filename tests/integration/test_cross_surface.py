"""One thread, every surface: a conversation started on LangServe, AG-UI or the runs API reads
and continues the same everywhere, with the real clients (LangServe's `RemoteRunnable`,
`@ag-ui/client`'s HttpAgent, `langgraph-sdk`), on the embedded default and on PostgreSQL.
"""

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langserve import RemoteRunnable

from tests.support_runs import BACKENDS, runs_settings, served

pytestmark = pytest.mark.integration

CLIENT_DIR = Path(__file__).parents[1] / "agui_client"
SURFACES = ("langserve", "agui", "runs")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with served(runs_settings(tmp_path_factory.mktemp("cross") / "var", postgres)) as url:
        yield url


@pytest.fixture
async def sdk(server: str) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=server) as client:
        yield client


async def say(surface: str, server: str, sdk: LangGraphClient, thread_id: str, text: str) -> None:
    """Send one user turn to the `agent` workflow on `surface`, as that surface's client does."""
    if surface == "langserve":
        remote = RemoteRunnable(f"{server}/workflows/agent", timeout=60)
        await remote.ainvoke(
            {"messages": [{"type": "human", "content": text}]},
            {"configurable": {"thread_id": thread_id}},
        )
    elif surface == "agui":
        node = shutil.which("node")
        assert node, "Node.js is needed for the AG-UI client"
        if not (CLIENT_DIR / "node_modules" / "@ag-ui" / "client").exists():
            pytest.fail("run `npm ci --prefix tests/agui_client` (make test does)")
        process = await asyncio.create_subprocess_exec(
            node,
            "turn.mjs",
            server,
            "agent",
            thread_id,
            text,
            cwd=CLIENT_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        assert json.loads(out.decode().splitlines()[-1])["terminal"] == "finished", out
    else:
        await sdk.runs.wait(
            thread_id,
            "agent",
            input={"messages": [{"role": "user", "content": text}]},
            if_not_exists="create",
        )


def said(state: Any) -> list[str]:
    return [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]


@pytest.mark.parametrize("starter", SURFACES)
async def test_a_thread_started_anywhere_reads_and_continues_everywhere(
    starter: str, server: str, sdk: LangGraphClient
) -> None:
    thread_id = f"cross-{starter}-{Path(server).name.replace(':', '-')}"
    await say(starter, server, sdk, thread_id, f"hello from {starter}")

    # Agent Chat UI's calls: the thread is listed by its graph, with its state and history.
    found = await sdk.threads.search(metadata={"graph_id": "agent"}, limit=100)
    assert thread_id in [thread["thread_id"] for thread in found]
    thread = await sdk.threads.get(thread_id)
    assert thread["metadata"]["graph_id"] == "agent" and thread["status"] == "idle"
    assert said(await sdk.threads.get_state(thread_id)) == [f"hello from {starter}"]
    history = await sdk.threads.get_history(thread_id, limit=50)
    assert history and said(history[0]) == [f"hello from {starter}"]
    runs = await sdk.runs.list(thread_id)
    assert [run["status"] for run in runs] == ["success"]

    # Continued on every other surface, in turn: one thread, every turn in order.
    others = [surface for surface in SURFACES if surface != starter]
    for surface in others:
        await say(surface, server, sdk, thread_id, f"and from {surface}")
    state = await sdk.threads.get_state(thread_id)
    assert said(state) == [f"hello from {starter}"] + [f"and from {s}" for s in others]
    ids = [message["id"] for message in state["values"]["messages"]]
    assert len(ids) == len(set(ids))
    assert [run["status"] for run in await sdk.runs.list(thread_id)] == ["success"] * 3
    surfaces = sorted(run["kwargs"]["surface"] for run in await sdk.runs.list(thread_id))
    assert surfaces == sorted(SURFACES)


async def test_another_client_joins_an_agui_run_through_the_runs_api(
    server: str, sdk: LangGraphClient
) -> None:
    thread_id = f"joined-{Path(server).name.replace(':', '-')}"
    await say("agui", server, sdk, thread_id, "hello, who joins?")
    (run,) = await sdk.runs.list(thread_id)
    parts = [
        part
        async for part in sdk.runs.join_stream(
            thread_id, run["run_id"], stream_mode=["events", "values"]
        )
    ]
    kinds = {part.event for part in parts}
    assert {"metadata", "events", "values"} <= kinds, kinds
    streamed = [
        p.data for p in parts if p.event == "events" and p.data["event"] == "on_chat_model_stream"
    ]
    assert streamed, "the model's tokens are in the run's event log"
    final = [p.data for p in parts if p.event == "values"][-1]
    assert [m["content"] for m in final["messages"] if m["type"] == "human"] == [
        "hello, who joins?"
    ]


async def test_the_embedded_default_keeps_a_thread_across_a_restart(tmp_path: Path) -> None:
    settings = runs_settings(tmp_path / "var", None)
    thread_id = "restarted"
    with served(settings) as url:
        async with get_client(url=url) as sdk:
            await say("agui", url, sdk, thread_id, "before the restart")
    with served(settings) as url:
        async with get_client(url=url) as sdk:
            assert said(await sdk.threads.get_state(thread_id)) == ["before the restart"]
            found = await sdk.threads.search(metadata={"graph_id": "agent"})
            assert [thread["thread_id"] for thread in found] == [thread_id]
            await say("langserve", url, sdk, thread_id, "after, on LangServe")
            await say("runs", url, sdk, thread_id, "after, on the runs API")
            assert said(await sdk.threads.get_state(thread_id)) == [
                "before the restart",
                "after, on LangServe",
                "after, on the runs API",
            ]
            assert len(await sdk.threads.get_history(thread_id, limit=100)) > 3
            assert [r["status"] for r in await sdk.runs.list(thread_id)] == ["success"] * 3
