"""A LangGraph project's own auth (`ORCA_AUTH_PATH`) on every surface, with the real clients.

The project's `Auth` (`tests/data/project_auth/auth.py`) decides who calls on the runs API
(`langgraph-sdk`), LangServe (`RemoteRunnable`) and AG-UI, and its `@auth.on` handlers
stamp and filter threads and assistants, on the embedded default and on PostgreSQL; every
surface hands a graph the authenticated user (`configurable.langgraph_auth_user`).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError
from langserve import RemoteRunnable

from tests.support_runs import BACKENDS, SseEvent, runs_settings, served, sse_lines

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).parents[1] / "data" / "project_auth"
WHOAMI = "tests.doubles.whoami_graph:build_graph"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Serve Orca with the project's auth, runs in SQLite or PostgreSQL."""
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = runs_settings(
        tmp_path_factory.mktemp("project-auth") / "var",
        postgres,
        auth_path="./auth.py:auth",
        auth_base_dir=PROJECT,
    )
    settings = settings.model_copy(update={"graphs": {**settings.graphs, "whoami": WHOAMI}})
    with served(settings) as url:
        yield url


def client(server: str, token: str | None) -> LangGraphClient:
    """Return langgraph-sdk's client sending `token` as a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return get_client(url=server, headers=headers)


def status_of(error: BaseException) -> int:
    response = getattr(error, "response", None)
    assert response is not None, error
    return int(response.status_code)


# The runs API ------------------------------------------------------------------
async def test_without_a_valid_token_every_runs_route_is_401(server: str) -> None:
    for token in (None, "nobody"):
        async with client(server, token) as anonymous:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await anonymous.threads.search()
            assert status_of(refused.value) == 401
            assert refused.value.response.json() == {"detail": "Invalid or missing token"}
            assert "Bearer" in refused.value.response.headers["www-authenticate"]
    async with httpx.AsyncClient(base_url=server) as http:
        for path in ("/ok", "/info", "/health", "/metrics"):  # public, as before
            assert (await http.get(path)).status_code == 200, path


async def test_a_thread_is_stamped_and_only_its_owner_reads_searches_and_runs_it(
    server: str,
) -> None:
    async with client(server, "user-a") as a, client(server, "user-b") as b:
        thread = await a.threads.create(metadata={"topic": "falcon", "owner": "forged"})
        thread_id = thread["thread_id"]
        assert thread["metadata"]["owner"] == "user-a"  # the handler's, not the caller's
        final = await a.runs.wait(
            thread_id, "echo", input={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert final["messages"][-1]["content"] == "echo: hi"
        (run,) = await a.runs.list(thread_id)
        assert run["metadata"]["started_by"] == "user-a"  # create_run's change is stored
        mine = await a.threads.search(metadata={"topic": "falcon"})
        assert [t["thread_id"] for t in mine] == [thread_id]

        with pytest.raises(NotFoundError):
            await b.threads.get(thread_id)
        with pytest.raises(NotFoundError):
            await b.threads.get_state(thread_id)
        with pytest.raises(NotFoundError):
            await b.runs.create(thread_id, "echo", input={"messages": []})
        assert await b.threads.search(metadata={"topic": "falcon"}) == []
        assert await b.threads.count() == 0


async def test_filters_hide_threads_that_orca_ownership_alone_would_share(server: str) -> None:
    # alice and bob are one identity (`acme`): only the project's filters keep them apart.
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        thread_id = (await alice.threads.create())["thread_id"]
        await alice.runs.wait(
            thread_id, "echo", input={"messages": [{"role": "user", "content": "x"}]}
        )
        assert (await alice.threads.get(thread_id))["metadata"]["owner"] == "alice"
        with pytest.raises(NotFoundError):
            await bob.threads.get(thread_id)
        with pytest.raises(NotFoundError):
            await bob.runs.list(thread_id)
        with pytest.raises(NotFoundError):
            await bob.threads.update(thread_id, metadata={"owner": "bob"})
        with pytest.raises(httpx.HTTPStatusError) as hidden:  # `wait` raises the plain error
            await bob.runs.wait(thread_id, "echo", input={"messages": []})
        assert status_of(hidden.value) == 404
        assert thread_id not in [t["thread_id"] for t in await bob.threads.search(limit=100)]
        # Asking for another owner's threads finds none, rather than widening the filter.
        assert await bob.threads.search(metadata={"owner": "alice"}) == []
        assert await alice.threads.count(metadata={"owner": "alice"}) >= 1
        # bob's thread, created by a run, is stamped by the same rule.
        bob_thread = str(uuid.uuid4())
        await bob.runs.wait(
            bob_thread,
            "echo",
            input={"messages": [{"role": "user", "content": "y"}]},
            if_not_exists="create",
        )
        assert (await bob.threads.get(bob_thread))["metadata"]["owner"] == "bob"


async def test_a_handler_returning_false_is_403(server: str) -> None:
    async with client(server, "user-a") as a, client(server, "root") as root:
        thread_id = (await a.threads.create())["thread_id"]
        with pytest.raises(PermissionDeniedError):
            await a.threads.delete(thread_id)
        assert (await a.threads.get(thread_id))["thread_id"] == thread_id
        own = (await root.threads.create())["thread_id"]
        await root.threads.delete(own)  # `admin` in its permissions
        with pytest.raises(NotFoundError):
            await root.threads.get(own)


# The store -----------------------------------------------------------------------
async def test_store_handlers_rewrite_namespaces_filter_searches_and_refuse(server: str) -> None:
    # alice and bob are one identity (`acme`): only `@auth.on.store` keeps their items apart.
    label = f"notes-{uuid.uuid4().hex}"
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        await alice.store.put_item([label], "n1", {"text": "alice's", "hidden": False})
        await alice.store.put_item([label], "n2", {"text": "secret", "hidden": True})
        await bob.store.put_item([label], "n1", {"text": "bob's", "hidden": False})

        mine = await alice.store.get_item([label], "n1")
        assert mine is not None and mine["value"]["text"] == "alice's"
        assert mine["namespace"] == ["alice", label]  # the namespace the handler chose
        again = await alice.store.get_item(["alice", label], "n1")  # already prefixed
        assert again is not None and again["value"] == mine["value"]
        theirs = await bob.store.get_item([label], "n1")
        assert theirs is not None and theirs["value"]["text"] == "bob's"
        assert await bob.store.get_item(["alice", label], "n1") is None  # bob/alice/..

        found = await alice.store.search_items([label])
        assert [(i["key"], i["namespace"]) for i in found["items"]] == [("n1", ["alice", label])]
        assert (await alice.store.search_items([label], filter={"hidden": True}))["items"] == []
        listed = (await bob.store.list_namespaces())["namespaces"]
        assert ["bob", label] in listed and all(ns[0] == "bob" for ns in listed)

        with pytest.raises(PermissionDeniedError) as refused:
            await alice.store.put_item(["readonly"], "k", {"text": "x"})
        assert refused.value.response.json() == {
            "detail": "not allowed: readonly namespaces take no writes"
        }
        await alice.store.delete_item([label], "n1")
        assert await alice.store.get_item([label], "n1") is None
        assert await bob.store.get_item([label], "n1") is not None


# LangServe and AG-UI -------------------------------------------------------------
def agui_body(thread_id: str, text: str) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": str(uuid.uuid4()),
        "state": {},
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": text}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }


async def agui_events(
    server: str, token: str | None, thread_id: str, workflow: str = "agent"
) -> tuple[int, list[str]]:
    """POST one AG-UI turn to `workflow`; return the status and the event types streamed."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(base_url=server, timeout=60) as http,
        http.stream(
            "POST", f"/agui/{workflow}", json=agui_body(thread_id, "hello"), headers=headers
        ) as response,
    ):
        if response.status_code != 200:
            await response.aread()
            return response.status_code, []
        kinds = [
            json.loads(line[5:])["type"]
            async for line in response.aiter_lines()
            if line.startswith("data:")
        ]
        return 200, kinds


async def test_agui_takes_the_same_rule(server: str) -> None:
    thread_id = f"agui-{uuid.uuid4()}"
    assert (await agui_events(server, None, thread_id))[0] == 401
    assert (await agui_events(server, "nobody", thread_id))[0] == 401
    status, kinds = await agui_events(server, "user-a", thread_id)
    assert status == 200 and kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED"
    async with client(server, "user-a") as a, client(server, "user-b") as b:
        assert (await a.threads.get(thread_id))["metadata"]["owner"] == "user-a"
        with pytest.raises(NotFoundError):
            await b.threads.get(thread_id)
    assert (await agui_events(server, "user-b", thread_id))[0] == 404


@asynccontextmanager
async def remote(
    server: str, token: str | None, workflow: str = "agent"
) -> AsyncIterator[RemoteRunnable]:
    """Return LangServe's client for `workflow` sending `token`, closed afterwards."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    runnable = RemoteRunnable(f"{server}/workflows/{workflow}", timeout=60, headers=headers)
    try:
        yield runnable
    finally:
        await runnable.async_client.aclose()
        runnable.sync_client.close()


async def test_langserve_takes_the_same_rule(server: str) -> None:
    thread_id = f"langserve-{uuid.uuid4()}"
    question = {"messages": [{"type": "human", "content": "hello"}]}
    config = {"configurable": {"thread_id": thread_id}}
    for token in (None, "nobody"):
        async with remote(server, token) as anonymous:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await anonymous.ainvoke(question, config)
            assert status_of(refused.value) == 401
    async with remote(server, "user-a") as owner:
        answer = await owner.ainvoke(question, config)
    assert answer["messages"][-1].type == "ai"
    async with client(server, "user-a") as a:
        thread = await a.threads.get(thread_id)
        assert thread["metadata"]["owner"] == "user-a" and thread["status"] == "idle"
    async with remote(server, "user-b") as other:
        with pytest.raises(httpx.HTTPStatusError) as hidden:
            await other.ainvoke(question, config)
    assert status_of(hidden.value) == 404


async def test_the_openai_surface_answers_in_its_own_envelope(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        refused = await http.get("/v1/models")
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == "Invalid or missing token"
        allowed = await http.get("/v1/models", headers={"Authorization": "Bearer user-a"})
        assert allowed.status_code == 200


# Assistants ----------------------------------------------------------------------
async def test_assistants_are_stamped_and_only_their_owner_reads_changes_or_runs_them(
    server: str,
) -> None:
    # alice and bob are one identity (`acme`): only the project's filters keep them apart.
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        mine = await alice.assistants.create(
            "echo", metadata={"owner": "bob", "team": "falcon"}, name="alice's echo"
        )
        key = mine["assistant_id"]
        assert mine["metadata"] == {"owner": "alice", "team": "falcon"}  # the handler's
        assert (await alice.assistants.get(key))["name"] == "alice's echo"
        assert (await alice.assistants.get_graph(key))["nodes"]
        assert (await alice.assistants.get_schemas(key))["graph_id"] == "echo"
        assert await alice.assistants.get_subgraphs(key) == {}
        assert len(await alice.assistants.get_versions(key)) == 1
        searched = await alice.assistants.search(metadata={"team": "falcon"})
        assert [a["assistant_id"] for a in searched] == [key]
        assert await alice.assistants.count(metadata={"team": "falcon"}) == 1

        for read in (
            bob.assistants.get(key),
            bob.assistants.get_graph(key),
            bob.assistants.get_schemas(key),
            bob.assistants.get_subgraphs(key),
            bob.assistants.get_versions(key),
            bob.assistants.update(key, metadata={"owner": "bob"}),
            bob.assistants.set_latest(key, 1),
            bob.assistants.delete(key),
        ):
            with pytest.raises(NotFoundError):
                await read
        assert await bob.assistants.search(metadata={"team": "falcon"}) == []
        assert await bob.assistants.count(metadata={"team": "falcon"}) == 0
        assert await bob.assistants.search(metadata={"owner": "alice"}) == []
        # A run naming alice's assistant is bob's only if the rule shows it to him.
        with pytest.raises(httpx.HTTPStatusError) as hidden:
            await bob.runs.wait(None, key, input={"messages": []})
        assert status_of(hidden.value) == 404

        # What `assistants.update` leaves in `metadata` is what is merged: not a new owner.
        changed = await alice.assistants.update(key, metadata={"owner": "bob", "tier": 2})
        assert changed["metadata"] == {"owner": "alice", "team": "falcon", "tier": 2}
        assert changed["version"] == 2
        assert (await alice.assistants.set_latest(key, 1))["version"] == 1
        final = await alice.runs.wait(
            None, key, input={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert final["messages"][-1]["content"] == "echo: hi"
        # This project's owner filter hides the graphs' system assistants from everyone
        # (their metadata has no owner), as on langgraph-api; runs on them still work.
        with pytest.raises(NotFoundError):
            await alice.assistants.get("echo")
        assert all(a["metadata"].get("owner") == "alice" for a in await alice.assistants.search())
        await alice.assistants.delete(key)
        with pytest.raises(NotFoundError):
            await alice.assistants.get(key)


# Pruning and cancelling by status -----------------------------------------------------
async def test_prune_and_cancel_by_status_ask_the_thread_rules(server: str) -> None:
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        thread_id = (await alice.threads.create())["thread_id"]
        for text in ("one", "two"):
            await alice.runs.wait(
                thread_id, "echo", input={"messages": [{"role": "user", "content": text}]}
            )
        history = await alice.threads.get_history(thread_id, limit=100)
        assert len(history) > 1

        # bob shares alice's identity, but her thread is not his to prune.
        pruned = await bob.threads.prune([thread_id], strategy="keep_latest")
        assert pruned == {"pruned_count": 0}
        assert len(await alice.threads.get_history(thread_id, limit=100)) == len(history)
        # Deleting is for admins only (`threads.delete` is False): refused, nothing pruned.
        with pytest.raises(PermissionDeniedError):
            await alice.threads.prune([thread_id], strategy="delete")
        assert (await alice.threads.get(thread_id))["thread_id"] == thread_id
        pruned = await alice.threads.prune([thread_id], strategy="keep_latest")
        assert pruned == {"pruned_count": 1}
        assert len(await alice.threads.get_history(thread_id, limit=100)) == 1

        # A run that waits an hour stays pending: bob's cancel-by-status leaves it be.
        later = await alice.runs.create(thread_id, "echo", input=None, after_seconds=3600)
        with pytest.raises(NotFoundError):  # none of bob's runs is pending: langgraph-api's 404
            await bob.runs.cancel_many(status="pending")
        assert (await alice.runs.get(thread_id, later["run_id"]))["status"] == "pending"
        await alice.runs.cancel_many(status="pending")
        assert (await alice.runs.get(thread_id, later["run_id"]))["status"] == "interrupted"


# The user in the run's config --------------------------------------------------------
SPOOFED = {
    "langgraph_auth_user": {"identity": "root", "permissions": ["admin"]},
    "langgraph_auth_user_id": "root",
    "langgraph_auth_permissions": ["admin"],
}
ALICE = {
    "langgraph_auth_user": {
        "identity": "acme",
        "person": "alice",
        "display_name": "Alice",
        "is_authenticated": True,
        "permissions": [],
    },
    "langgraph_auth_user_id": "acme",
    "langgraph_auth_permissions": [],
}


def seen(values: dict[str, Any]) -> Any:
    """Return what the whoami graph's last answer says it was handed."""
    last = values["messages"][-1]
    return json.loads(last["content"] if isinstance(last, dict) else last.content)


async def test_every_surface_hands_the_graph_the_server_s_user_not_the_caller_s(
    server: str,
) -> None:
    question = {"messages": [{"role": "user", "content": "who?"}]}
    async with client(server, "alice") as alice:
        final = await alice.runs.wait(
            None, "whoami", input=question, config={"configurable": SPOOFED}
        )
        assert seen(final) == ALICE
        # An assistant saved with the keys cannot pose as anyone either.
        saved = await alice.assistants.create("whoami", config={"configurable": SPOOFED})
        assert seen(await alice.runs.wait(None, saved["assistant_id"], input=question)) == ALICE

    thread_id = f"whoami-{uuid.uuid4()}"
    async with remote(server, "alice", "whoami") as runnable:
        config = {"configurable": {"thread_id": thread_id, **SPOOFED}}
        answer = await runnable.ainvoke(
            {"messages": [{"type": "human", "content": "who?"}]}, config
        )
    assert seen(answer) == ALICE

    agui_thread = f"agui-{uuid.uuid4()}"
    status, kinds = await agui_events(server, "alice", agui_thread, workflow="whoami")
    assert status == 200 and kinds[-1] == "RUN_FINISHED"
    async with client(server, "alice") as alice:
        assert seen((await alice.threads.get_state(agui_thread))["values"]) == ALICE


# Public routes and failed authentication ------------------------------------------------
def project_auth_module() -> Any:
    """Return the project's auth module as the server imported it (same process)."""
    path = str((PROJECT / "auth.py").resolve())
    return next(m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == path)


async def test_authenticate_never_runs_for_public_routes_and_once_per_request(
    server: str,
) -> None:
    calls: list[str] = project_auth_module().CALLS
    calls.clear()
    async with httpx.AsyncClient(base_url=server) as http:
        for path in ("/", "/docs", "/redoc", "/chat", "/ok", "/info", "/health", "/metrics"):
            assert (await http.get(path)).status_code == 200, path
        assert calls == []
        refused = await http.post("/threads/search", json={}, headers={"Authorization": "x"})
        assert refused.status_code == 401
        assert calls == ["/threads/search"]  # not again for the route after the limiter
        allowed = await http.post(
            "/threads/search", json={}, headers={"Authorization": "Bearer user-a"}
        )
        assert allowed.status_code == 200
        assert calls == ["/threads/search", "/threads/search"]


# Joining a thread's stream ----------------------------------------------------------------
async def test_a_thread_stream_says_where_to_resume_and_the_sdk_follows_it(server: str) -> None:
    async with client(server, "alice") as alice:
        thread_id = (await alice.threads.create())["thread_id"]
        run = await alice.runs.create(
            thread_id, "echo", input={"messages": [{"role": "user", "content": "hi"}]}
        )
        await alice.runs.join(thread_id, run["run_id"])
        joined = [part async for part in await alice.threads.join_stream(thread_id)]
    assert joined and joined[-1].event == "values"

    headers = {"Authorization": "Bearer alice"}
    location = f"/threads/{thread_id}/runs/{run['run_id']}/stream"
    async with httpx.AsyncClient(base_url=server, headers=headers, timeout=30) as http:
        async with http.stream("GET", f"/threads/{thread_id}/stream") as whole:
            assert whole.headers["location"] == location
            events = [e async for e in sse_lines(whole) if isinstance(e, SseEvent)]
        async with http.stream(
            "GET", f"/threads/{thread_id}/stream", params={"stream_mode": "values"}
        ) as values:
            assert values.headers["location"] == f"{location}?stream_mode=values"
        # Resuming at the Location after the first event gives the rest, under the same ids.
        assert events[0].id is not None
        async with http.stream(
            "GET", location, headers={"Last-Event-ID": str(events[0].id)}
        ) as rest:
            resumed = [e async for e in sse_lines(rest) if isinstance(e, SseEvent)]
    assert [e.id for e in resumed] == [e.id for e in events[1:]]
    # bob shares alice's identity; her thread's stream is not his to join.
    async with client(server, "bob") as bob:
        with pytest.raises(NotFoundError):
            async for _ in await bob.threads.join_stream(thread_id):
                pass
