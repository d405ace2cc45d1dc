"""Run bodies LangServe used to answer with 500 (found by Schemathesis) are 422s."""

import json
import uuid
from typing import Any

import httpx
import pytest
from langserve.lzstring import LZString

from server.auth.identity import ANONYMOUS
from server.run_policy import MAX_BATCH_RUNS
from server.runs.records import RunRecord
from server.served_body import MAX_NESTING, find_unstorable, nesting

QUESTION = {"question": "Who led Project Falcon?"}
BAD_TOOL_CALL = {
    "type": "ai",
    "content": "",
    "tool_call_chunks": [{"name": "search", "args": "{}", "id": "c1", "index": 0, "surprise": 1}],
}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/workflows/rag/invoke", b'{"input": {"question": "caf\xe9?"}}'),  # Latin-1, not UTF-8
        ("/workflows/rag/c/N4XyA/batch", b"\xa1\xd8"),
        ("/workflows/rag/invoke", b'{"input": {"question": "\\udb02?"}}'),  # lone surrogate
        ("/workflows/rag/invoke", b'{"input": {"question": "x"}, "kwargs": {"n": 1e999}}'),
        (
            "/workflows/rag/stream_events",
            b'{"input": {"question": "x", "n": 99999999999999999999}}',
        ),
        ("/workflows/rag/invoke", b'["input"]'),
    ],
)
async def test_bodies_no_checkpoint_could_store_are_422(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/workflows/rag/invoke", {"input": QUESTION, "config": None}, ["body", "config"]),
        ("/workflows/rag/batch", {"inputs": [QUESTION], "config": 7}, ["body", "config"]),
        ("/workflows/rag/batch", {"inputs": [QUESTION], "config": [{}, {}]}, ["body", "config"]),
        ("/workflows/rag/batch", {"inputs": QUESTION}, ["body", "inputs"]),
        ("/workflows/rag/batch", {"inputs": [QUESTION, {"question": ""}]}, ["body", "inputs", 1]),
        ("/workflows/ingest/batch", {"inputs": [{}]}, ["body", "inputs", 0]),
        ("/workflows/rag/batch", {"inputs": [QUESTION] * (MAX_BATCH_RUNS + 1)}, ["body", "inputs"]),
        (
            "/workflows/agent/invoke",
            {"input": {"messages": [BAD_TOOL_CALL]}},
            ["body", "input"],
        ),
    ],
)
async def test_envelopes_and_inputs_langserve_half_validates_are_422(
    client: httpx.AsyncClient, path: str, body: dict[str, object], where: list[object]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][: len(where)] == where


@pytest.mark.parametrize("endpoint", ["invoke", "stream"])
async def test_a_rag_chat_turn_without_a_question_is_422_before_any_stream(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    body = {"input": {"messages": [{"type": "ai", "content": "I am the assistant."}]}}
    response = await client.post(f"/workflows/rag-chat/{endpoint}", json=body)
    assert response.status_code == 422
    assert "user message" in response.text


async def test_good_bodies_still_run(client: httpx.AsyncClient) -> None:
    batch = await client.post("/workflows/rag/batch", json={"inputs": [QUESTION, QUESTION]})
    chat = await client.post(
        "/workflows/rag-chat/invoke",
        json={"input": {"messages": [{"type": "human", "content": "Who led Falcon? 😀"}]}},
    )
    assert batch.status_code == 200, batch.text
    assert chat.status_code == 200, chat.text


@pytest.mark.parametrize(
    "config",
    [
        {"configurable": {"thread_id": "t-batch"}},
        [
            {"configurable": {"thread_id": "t-batch"}},
            {},
            {"configurable": {"thread_id": "t-batch"}},
        ],
    ],
)
async def test_a_batch_naming_one_thread_twice_is_422_and_runs_nothing(
    client: httpx.AsyncClient, config: Any
) -> None:
    """A batch runs its inputs at once; a thread runs one at a time (the first ran, the
    batch answered 409 and the others' answers were lost)."""
    body = {"inputs": [QUESTION] * 3, "config": config}
    response = await client.post("/workflows/rag/batch", json=body)
    assert response.status_code == 422, response.text
    assert "its own thread_id" in response.text
    assert (await client.get("/threads/t-batch")).status_code == 404
    one = {"inputs": [QUESTION], "config": {"configurable": {"thread_id": "t-batch"}}}
    assert (await client.post("/workflows/rag/batch", json=one)).status_code == 200


def hashed(config: dict[str, Any]) -> str:
    """The `/c/{config_hash}/` segment LangServe's playground sends for `config`."""
    return str(LZString.compressToEncodedURIComponent(json.dumps(config)))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("thread_id", ["a\x00b", "a\ud800b"])
@pytest.mark.parametrize("endpoint", ["invoke", "batch", "stream"])
async def test_text_no_store_takes_in_a_config_hash_is_422(
    client: httpx.AsyncClient, thread_id: str, endpoint: str
) -> None:
    """The config of a `/c/{hash}/` route is checked as a body's (it was a plain 500)."""
    body = {"inputs": [QUESTION]} if endpoint == "batch" else {"input": QUESTION}
    config = hashed({"configurable": {"thread_id": thread_id}})
    response = await client.post(f"/workflows/rag/c/{config}/{endpoint}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "config_hash"]


@pytest.mark.parametrize("config_hash", ["%01%F4%86%B2%A9%E1%83%AE%0E%15", "%C3%B2", "run"])
async def test_a_config_hash_that_is_no_config_is_langserve_s_400(
    client: httpx.AsyncClient, config_hash: str
) -> None:
    response = await client.post(f"/workflows/rag/c/{config_hash}/invoke", json={"input": QUESTION})
    assert response.status_code == 400, response.text


async def test_a_batch_on_a_config_hash_naming_a_thread_is_one_thread_twice(
    client: httpx.AsyncClient,
) -> None:
    config = hashed({"configurable": {"thread_id": "t-hashed"}})
    body = {"inputs": [QUESTION, QUESTION]}
    response = await client.post(f"/workflows/rag/c/{config}/batch", json=body)
    assert response.status_code == 422, response.text
    assert (await client.get("/threads/t-hashed")).status_code == 404
    own = {**body, "config": [{"configurable": {"thread_id": f"t-own-{i}"}} for i in range(2)]}
    assert (await client.post(f"/workflows/rag/c/{config}/batch", json=own)).status_code == 200


async def test_a_batch_naming_a_busy_thread_is_409_before_any_input_runs(
    client: httpx.AsyncClient,
) -> None:
    """Checked while the configs are read: the other inputs had run and written their threads."""
    assert (await client.post("/threads", json={"thread_id": "t-busy"})).status_code == 200
    store = client._transport.app.state.resources.runs.store  # type: ignore[attr-defined]
    running = RunRecord(
        run_id=str(uuid.uuid4()),
        thread_id="t-busy",
        assistant_id="rag",
        graph_id="rag",
        owner=ANONYMOUS.id,
        kwargs={"input": QUESTION},
    )
    await store.insert_run(running, claim_for="another-process", lease_s=60)
    configs = [{"configurable": {"thread_id": thread}} for thread in ("t-fresh", "t-busy")]
    body = {"inputs": [QUESTION, QUESTION], "config": configs}
    response = await client.post("/workflows/rag/batch", json=body)
    assert response.status_code == 409, response.text
    assert (await client.get("/threads/t-fresh/runs")).json() == []


def test_what_cannot_be_stored_is_located() -> None:
    surrogate = "text with a lone surrogate (not valid Unicode)"
    assert find_unstorable({"a": [1, "ok", {"b": "\udb02"}]}) == (("a", 2, "b"), surrogate)
    assert find_unstorable({"n": 2**64}) == (("n",), "an integer beyond 64 bits")
    assert find_unstorable({"n": -(2**63), "m": 2**64 - 1, "f": 1.5, "t": True}) is None


def test_nesting_counts_levels_of_arrays_and_objects() -> None:
    values = (1, "s", [], {}, [[1]], {"a": [{"b": 1}], "c": 2})
    assert [nesting(value) for value in values] == [0, 0, 1, 1, 2, 3]
    deep: object = 1
    for _ in range(1000):
        deep = [deep]
    assert nesting(deep) == MAX_NESTING + 1  # counting stops past the limit
    found = find_unstorable({"x": deep})
    assert found is not None
    where, problem = found
    assert len(where) == MAX_NESTING and "nested deeper" in problem
