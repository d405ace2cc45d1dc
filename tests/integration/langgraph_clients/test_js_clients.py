"""The Agent Server API against the real JavaScript clients, with keys and without.

Agent Chat UI's calls with `@langchain/langgraph-sdk` (`chat_ui.mjs`: its thread list, the
`useStream` submit, history, regenerate, interrupt and resume), `useStream`'s own core
(`use_stream.mjs`, and `reconnect.mjs`: rejoining a run after a reload), the SDK resuming a
dropped connection (`dropped.mjs`, through a proxy the test cuts), and CopilotKit's
`LangGraphAgent` from `@ag-ui/langgraph` (`agui_langgraph.mjs`): each a Node script in
`tests/langgraph_js/` run against a live server with runs in SQLite or PostgreSQL. Held runs
wait at the `gated` double's gate, so "mid-run" is a state the test controls.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.doubles.gated_graph import held, release, waiting
from tests.support import eventually
from tests.support_proxy import cutting_proxy
from tests.support_runs import api_keys, runs_settings, served

pytestmark = pytest.mark.integration

CLIENT_DIR = Path(__file__).parents[2] / "langgraph_js"
SDK_KEYS = ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
"""Where the JS SDK looks for a key it was not given: kept out of the scripts' env."""


@pytest.fixture(scope="module", params=["no-auth", "api-key"])
def server(
    request: pytest.FixtureRequest, backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """Serve the app, with API keys required or not; yield its URL and a key (or None)."""
    auth = {"auth_mode": "api_key"} if request.param == "api-key" else {}
    settings = runs_settings(tmp_path_factory.mktemp("js") / "var", backend, **auth)
    with served(settings) as url:
        key = asyncio.run(api_keys(settings, "chat-ui"))[0] if auth else None
        yield url, key


def node() -> str:
    """Return the Node.js binary, once the pinned packages are installed."""
    found = shutil.which("node")
    assert found, "Node.js is needed for the JavaScript client tests"
    if not (CLIENT_DIR / "node_modules" / "@langchain" / "langgraph-sdk").exists():
        pytest.fail("run `npm ci --prefix tests/langgraph_js` (make test does)")
    return found


async def start(script: str, *args: str) -> asyncio.subprocess.Process:
    env = {name: value for name, value in os.environ.items() if name not in SDK_KEYS}
    return await asyncio.create_subprocess_exec(
        node(),
        script,
        *args,
        cwd=CLIENT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def scenarios(script: str, url: str, key: str | None) -> list[str]:
    """Run a scenario script; return its `ok` lines, failing on any `FAIL`."""
    process = await start(script, url, *([key] if key else []))
    out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    report = out.decode() + err.decode()
    assert process.returncode == 0, report
    return [line for line in out.decode().splitlines() if line.startswith("ok   ")]


async def test_agent_chat_ui_calls_work(server: tuple[str, str | None]) -> None:
    oks = await scenarios("chat_ui.mjs", *server)
    assert len(oks) == 5, oks


async def test_use_stream_submits_regenerates_and_resumes(server: tuple[str, str | None]) -> None:
    oks = await scenarios("use_stream.mjs", *server)
    assert len(oks) == 3, oks


async def test_copilotkit_langgraph_agent_runs_turns(server: tuple[str, str | None]) -> None:
    oks = await scenarios("agui_langgraph.mjs", *server)
    assert len(oks) == 2, oks


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    if not line:
        err = await process.stderr.read() if process.stderr else b""
        pytest.fail(f"the script ended early: {err.decode()}")
    return dict(json.loads(line))


async def test_use_stream_rejoins_a_run_after_a_reload_and_replays_it_whole(
    server: tuple[str, str | None],
) -> None:
    url, key = server
    with held() as label:
        process = await start("reconnect.mjs", url, label, *([key] if key else []))
        rejoined = (await read_line(process))["rejoined"]
        # The aborted stream left the run going (on_disconnect "continue"), still at its gate.
        assert rejoined["status"] == "running"
        await eventually(lambda: waiting(label))
        async with get_client(url=url, api_key=key) as sdk:
            run = await sdk.runs.get(rejoined["threadId"], rejoined["runId"])
            assert run["status"] == "running"
        release(label)
        result = (await read_line(process))["result"]
        assert await asyncio.wait_for(process.wait(), timeout=60) == 0
    assert result["finalStatus"] == "success"
    before, replay = result["before"], result["replay"]
    # From the start: every event seen before the abort again, same ids, same data, in order.
    assert replay[: len(before)] == before
    assert [part["id"] for part in replay] == sorted({part["id"] for part in replay}, key=int)
    # To the end: the subgraph's last custom event, then the final values with both logs.
    events = [part["event"] for part in replay]
    assert events[0] == "metadata"
    assert sum(event.startswith("custom|inner") for event in events) == 3, events
    assert replay[-1]["event"] == "values"
    assert replay[-1]["data"]["log"] == [f"{label}:begin", f"{label}:done"]
    # What the reloaded page shows: the final state, every custom event, the run forgotten.
    assert result["shown"]["log"] == [f"{label}:begin", f"{label}:done"]
    assert [event["step"] for event in result["customs"]] == [0, 1, 2]
    assert (result["errors"], result["keptRunId"]) == ([], None)


@pytest.mark.parametrize("how", ["stream", "join"])
async def test_the_sdk_resumes_a_dropped_stream_where_it_broke(
    server: tuple[str, str | None], how: str
) -> None:
    url, key = server
    async with cutting_proxy(url) as proxy:
        with held() as label:
            process = await start("dropped.mjs", proxy.url, label, how, *([key] if key else []))
            await read_line(process)  # the three custom events are in; the run is at its gate
            connections = proxy.connections
            assert proxy.cut() > 0
            release(label)
            result = (await read_line(process))["result"]
            assert await asyncio.wait_for(process.wait(), timeout=60) == 0
        assert proxy.connections > connections, "the SDK never reconnected"
    assert result["finalStatus"] == "success"
    parts = result["parts"]
    # Every event once, in order, none lost at the break: ids 1..n with no repeat or gap.
    assert [int(part["id"]) for part in parts] == list(range(1, len(parts) + 1))
    assert sum(part["event"].startswith("custom|inner") for part in parts) == 3
    assert parts[-1]["data"]["log"] == [f"{label}:begin", f"{label}:done"]
