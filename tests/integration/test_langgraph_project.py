"""A LangGraph project served unchanged (`tests/data/langgraph_project`), on every surface.

The project is laid out as langchain-ai/react-agent is: `langgraph.json` with a file-path
graph target, an env file, a `Context` dataclass read through `Runtime[Context]`, a node
using `runtime.store`, a custom route in `http.app`, and custom auth in `auth.path` (bearer
tokens for two users; threads stamped with and filtered on `metadata.owner`). It is copied,
its dependencies installed with `orca deps install` (into a folder of the test's, offline),
and served with the setting `orca serve --config` sets; the clients are the ones each
surface's users run: `langgraph_sdk`, LangServe's `RemoteRunnable` and `@ag-ui/client`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from langserve import RemoteRunnable

from server.settings import Settings
from tests.support_processes import free_port
from tests.support_runs import served

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PROJECT = ROOT / "tests" / "data" / "langgraph_project"
CLIENT_DIR = Path(__file__).parents[1] / "agui_client"
ORCA = [sys.executable, "-c", "from server.cli import app; app()"]
OFFLINE_PIP = ["--no-deps", "--no-index", "--no-build-isolation", "--quiet"]
NO_STORE = "no store to keep memos in"
START_GUARD_S = 240.0
"""Longest `orca serve` may take to answer (it loads the local models; 2 shared cores)."""
ANN, BOB = "ann-token", "bob-token"
"""Tokens of the two users the project's `auth.py` knows."""


def bearer(token: str | None) -> dict[str, str]:
    """Return the headers that send `token` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def copy_project(folder: Path) -> Path:
    """Return the config of a fresh copy of the project (pip builds in its source tree)."""
    shutil.copytree(PROJECT, folder)
    return folder / "langgraph.json"


def orca(*args: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `orca` command in its own process, in `cwd`, with `site` importable."""
    return subprocess.run(
        [*ORCA, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,  # not the checkout: its `.env` must not configure these
        env=clean_env(site),
    )


def clean_env(site: Path | None = None) -> dict[str, str]:
    """Return this process's environment without what the project's env file sets here."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEMO_")}
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (ROOT, site) if path)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Copy the project and install its dependencies with `orca deps install`; yield both."""
    folder = tmp_path_factory.mktemp("project")
    config, site = copy_project(folder / "project"), folder / "site"
    done = orca("deps", "install", "--config", str(config), "--no-editable", "--",
                "--target", str(site), *OFFLINE_PIP, cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "memo_agent").is_dir()
    sys.path.append(str(site))  # what the install did for this (the server's) process
    try:
        yield config, site
    finally:
        sys.path.remove(str(site))


@pytest.fixture(scope="module")
def url(installed: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config, _ = installed
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("var"),
        config=config,
        rate_limit="",
        rate_limit_runs="",
    )
    with served(settings) as base:
        yield base


def test_serve_refuses_until_dependencies_are_installed(tmp_path: Path) -> None:
    config = copy_project(tmp_path / "project")
    done = orca("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: dependencies not installed: . (package 'memo-agent'); run "
        f"`orca deps install --config {config.resolve()}`\n"
    )


def test_serve_names_the_graph_that_cannot_load(tmp_path: Path) -> None:
    config = copy_project(tmp_path / "project")
    (config.parent / "src" / "memo_agent" / "graph.py").write_text("import memo_agent.nothing\n")
    data = json.loads(config.read_text())
    data["dependencies"] = []
    config.write_text(json.dumps(data))
    done = orca("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]  # after the start-up log lines
    assert last.startswith(
        "error: graph 'memo': importing './src/memo_agent/graph.py' failed: No module named "
        "'memo_agent.nothing' ("
    ), done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
async def client(url: str) -> AsyncIterator[LangGraphClient]:
    """Return `langgraph_sdk`'s client, signed in as ann."""
    async with get_client(url=url, headers=bearer(ANN)) as sdk:
        yield sdk


async def test_runs_api_serves_the_graph_with_its_env_and_context(client: LangGraphClient) -> None:
    assistants = await client.assistants.search(graph_id="memo")
    assert [assistant["graph_id"] for assistant in assistants] == ["memo"]
    thread = await client.threads.create()
    state = await client.runs.wait(
        thread["thread_id"],
        "memo",
        input={"messages": [{"role": "user", "content": "buy milk"}]},
        context={"user_id": "ann"},
    )
    assert isinstance(state, dict)
    reply = state["messages"][-1]["content"]
    assert reply.startswith("Ahoy, ann: ")  # MEMO_GREETING from the project's env file
    empty = await client.runs.wait(
        None, "memo", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert isinstance(empty, dict)
    assert empty["messages"][-1]["content"].startswith("Ahoy, anonymous: ")  # schema defaults


async def test_store_keeps_memos_across_threads(client: LangGraphClient) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    replies = []
    for text in ("first", "second"):
        thread = await client.threads.create()
        state = await client.runs.wait(
            thread["thread_id"],
            "memo",
            input={"messages": [{"role": "user", "content": text}]},
            context={"user_id": user},
        )
        assert isinstance(state, dict)
        replies.append(state["messages"][-1]["content"])
    if NO_STORE in replies[0]:
        pytest.skip("the graphs get no store (runtime.store is None): server/store/ not wired")
    assert replies == [f"Ahoy, {user}: 1 memo(s) kept.", f"Ahoy, {user}: 2 memo(s) kept."]


@asynccontextmanager
async def remote(url: str, token: str | None) -> AsyncIterator[RemoteRunnable]:
    """Return LangServe's client for `memo` sending `token`, closed afterwards."""
    runnable = RemoteRunnable(f"{url}/workflows/memo", timeout=60, headers=bearer(token))
    try:
        yield runnable
    finally:
        await runnable.async_client.aclose()
        runnable.sync_client.close()


async def test_langserve_serves_the_graph(url: str) -> None:
    async with remote(url, ANN) as runnable:
        output = await runnable.ainvoke(
            {"messages": [HumanMessage("call mum")]}, {"configurable": {"user_id": "bob"}}
        )
        assert output["messages"][-1].content.startswith("Ahoy, bob: ")
        chunks = [chunk async for chunk in runnable.astream({"messages": [HumanMessage("x")]})]
    assert [next(iter(chunk)) for chunk in chunks] == ["remember", "reply"]


def agui_turn(url: str, thread: str, text: str, token: str | None) -> dict[str, Any]:
    """Run one turn of `memo` with `@ag-ui/client` sending `token`; return what it saw."""
    if not (CLIENT_DIR / "node_modules" / "@ag-ui" / "client").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR, check=True, timeout=300
        )
    node = shutil.which("node")
    assert node, "Node.js is needed for the AG-UI client tests"
    done = subprocess.run(
        [node, "turn.mjs", url, "memo", thread, text, *([token] if token else [])],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_agui_serves_the_graph_on_a_thread_the_runs_api_reads(url: str) -> None:
    listed = httpx.get(f"{url}/agui", headers=bearer(ANN)).json()["workflows"]
    assert "memo" in [workflow["name"] for workflow in listed]  # so /chat and CopilotKit see it
    thread = str(uuid.uuid4())
    seen = agui_turn(url, thread, "water the plants", ANN)
    assert seen["terminal"] == "finished", seen
    assert seen["text"].startswith("Ahoy, anonymous: "), seen  # streamed by the fake model
    state = httpx.get(f"{url}/threads/{thread}/state", headers=bearer(ANN)).json()
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]


def test_http_app_routes_beside_orcas_own(url: str) -> None:
    assert httpx.get(f"{url}/memo/about").json() == {"signature": "the memo agent"}
    assert httpx.get(f"{url}/health").json()["status"] == "ok"  # Orca's route wins the clash
    assert httpx.get(f"{url}/no/such/route").status_code == 404


# The project's auth (`auth.path`) ---------------------------------------------------
async def test_runs_api_needs_a_token_and_shows_a_thread_to_its_owner_only(url: str) -> None:
    for token in (None, "nobody"):
        async with get_client(url=url, headers=bearer(token)) as anonymous:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await anonymous.threads.search()
            assert refused.value.response.status_code == 401
            assert refused.value.response.json() == {"detail": "Invalid or missing token"}
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await anonymous.runs.wait(None, "memo", input={"messages": []})
            assert refused.value.response.status_code == 401
    async with (
        get_client(url=url, headers=bearer(ANN)) as ann,
        get_client(url=url, headers=bearer(BOB)) as bob,
    ):
        topic = uuid.uuid4().hex
        thread = await ann.threads.create(metadata={"topic": topic, "owner": "bob"})
        thread_id = thread["thread_id"]
        assert thread["metadata"] == {"topic": topic, "owner": "ann"}  # the handler's owner
        await ann.runs.wait(
            thread_id, "memo", input={"messages": [{"role": "user", "content": "buy eggs"}]}
        )
        assert [t["thread_id"] for t in await ann.threads.search(metadata={"topic": topic})] == [
            thread_id
        ]
        assert (await ann.threads.get(thread_id))["metadata"]["owner"] == "ann"

        with pytest.raises(NotFoundError):
            await bob.threads.get(thread_id)
        with pytest.raises(NotFoundError):
            await bob.threads.get_state(thread_id)
        assert await bob.threads.search(metadata={"topic": topic}) == []
        assert thread_id not in [t["thread_id"] for t in await bob.threads.search(limit=100)]
        with pytest.raises(httpx.HTTPStatusError) as hidden:  # `wait` raises the plain error
            await bob.runs.wait(thread_id, "memo", input={"messages": []})
        assert hidden.value.response.status_code == 404


def test_agui_needs_a_token_and_stamps_the_thread(url: str) -> None:
    thread = str(uuid.uuid4())
    refused = agui_turn(url, thread, "water the plants", None)
    assert (refused["terminal"], refused["status"]) == ("refused", 401), refused
    assert agui_turn(url, thread, "water the plants", "nobody")["status"] == 401
    done = agui_turn(url, thread, "water the plants", ANN)
    assert done["terminal"] == "finished", done
    owned = httpx.get(f"{url}/threads/{thread}", headers=bearer(ANN)).json()
    assert owned["metadata"]["owner"] == "ann"
    assert httpx.get(f"{url}/threads/{thread}", headers=bearer(BOB)).status_code == 404
    hidden = agui_turn(url, thread, "mine now", BOB)
    assert (hidden["terminal"], hidden["status"]) == ("refused", 404), hidden


async def test_langserve_needs_a_token(url: str) -> None:
    question = {"messages": [HumanMessage("call mum")]}
    for token in (None, "nobody"):
        async with remote(url, token) as anonymous:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await anonymous.ainvoke(question)
        assert refused.value.response.status_code == 401
    async with remote(url, BOB) as signed_in:
        output = await signed_in.ainvoke(question, {"configurable": {"user_id": "bob"}})
    assert output["messages"][-1].content.startswith("Ahoy, bob: ")


def test_http_app_routes_are_not_behind_the_projects_auth(url: str) -> None:
    # As on LangGraph's server without `http.enable_custom_route_auth` (which Orca refuses):
    # the app's routes answer whoever calls, and check callers themselves if they must.
    for headers in ({}, bearer("nobody"), bearer(ANN)):
        answer = httpx.get(f"{url}/memo/about", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"signature": "the memo agent"}
    assert httpx.get(f"{url}/threads/{uuid.uuid4()}").status_code == 401  # Orca's: behind it


def test_serve_refuses_custom_route_auth(tmp_path: Path) -> None:
    config = copy_project(tmp_path / "project")
    data = json.loads(config.read_text())
    data["http"]["enable_custom_route_auth"] = True
    config.write_text(json.dumps(data))
    done = orca("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "error: 'http.enable_custom_route_auth' is not supported: Orca serves every surface "
        "and leaves custom routes to the app's own checks; remove it"
    ), done.stderr


def test_orca_serve_config_end_to_end(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """`orca serve --config` in its own process: the real command, its models and all."""
    config, site = installed
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*ORCA, "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path,
        env={**clean_env(site), "ORCA_DATA_DIR": str(tmp_path / "var"), "ORCA_LOG_FORMAT": "text"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_GUARD_S  # a failure guard only: it loads models
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "orca serve never answered"
            time.sleep(0.2)  # between polls of the condition above
        assert httpx.get(f"{base}/memo/about").json() == {"signature": "the memo agent"}
        question = {"messages": [{"role": "user", "content": "hello"}]}
        with get_sync_client(url=base) as anonymous:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                anonymous.runs.wait(None, "memo", input=question)
            assert refused.value.response.status_code == 401  # the project's auth.path
        with get_sync_client(url=base, headers=bearer(ANN)) as sdk:
            thread = sdk.threads.create()
            state = sdk.runs.wait(thread["thread_id"], "memo", input=question)
        assert thread["metadata"]["owner"] == "ann"
        assert isinstance(state, dict)
        assert state["messages"][-1]["content"].startswith("Ahoy, anonymous: ")
        logged = (tmp_path / "serve.log").read_text()
        assert "keys not applied: python_version" in logged
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
