"""The LangServe surface, in-process, over fake models."""

from collections.abc import AsyncIterator

import httpx
import pytest
from langserve import RemoteRunnable

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import CORPUS, FAKE_ANSWER, fake_models, live_server, sent_files, serving


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        yield client


async def test_ingest_then_ask_over_invoke(client: httpx.AsyncClient) -> None:
    ingested = await client.post(
        "/workflows/ingest/invoke", json={"input": {"files": sent_files(CORPUS)}}
    )
    assert ingested.status_code == 200, ingested.text
    assert ingested.json()["output"]["chunk_count"] >= 3
    answered = await client.post(
        "/workflows/rag/invoke", json={"input": {"question": "Who led Project Falcon?"}}
    )
    assert answered.status_code == 200, answered.text
    output = answered.json()["output"]
    assert output["answer"] == FAKE_ANSWER
    assert {"source", "text", "score"} <= set(output["sources"][0])


async def test_thread_id_continues_a_thread(client: httpx.AsyncClient, settings: Settings) -> None:
    config = {"configurable": {"thread_id": "thread-7"}}
    await client.post("/workflows/ingest/invoke", json={"input": {"texts": ["Falcon."]}})
    for question in ("one?", "two?"):
        response = await client.post(
            "/workflows/rag/invoke", json={"input": {"question": question}, "config": config}
        )
        assert response.status_code == 200
    graph = client._transport.app.state.resources.graphs["rag"]  # type: ignore[attr-defined]
    state = await graph.aget_state(config)
    assert [m.content for m in state.values["messages"]][::2] == ["one?", "two?"]


async def test_remote_runnable_invokes_streams_and_batches(settings: Settings) -> None:
    with live_server(create_app(settings, models=fake_models(), embedder=fake_embedder())) as url:
        await RemoteRunnable(f"{url}/workflows/ingest", timeout=60).ainvoke({"texts": ["Falcon."]})
        await _exercise_remote_rag(RemoteRunnable(f"{url}/workflows/rag", timeout=60))


async def _exercise_remote_rag(remote: RemoteRunnable) -> None:
    result = await remote.ainvoke({"question": "Falcon."})
    assert result["answer"] == FAKE_ANSWER
    updates = [chunk async for chunk in remote.astream({"question": "Falcon."})]
    assert [next(iter(update)) for update in updates] == ["retrieve", "generate"]
    batch = await remote.abatch([{"question": "a"}, {"question": "b"}])
    assert [item["answer"] for item in batch] == [FAKE_ANSWER, FAKE_ANSWER]
    tokens = [
        event["data"]["chunk"].content
        async for event in remote.astream_events({"question": "Falcon."}, version="v2")
        if event["event"] == "on_chat_model_stream"
    ]
    assert "".join(tokens) == FAKE_ANSWER


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/workflows/rag/invoke", {"input": {}}, "question"),
        ("/workflows/rag/invoke", {"input": {"question": "   "}}, "blank"),
        ("/workflows/ingest/invoke", {"input": {}}, "at least one of 'files', 'texts' or 'paths'"),
        ("/workflows/ingest/invoke", {"input": {"texts": []}}, "at least one"),
        ("/workflows/ingest/invoke", {"input": {"paths": ["/etc/hostname"]}}, "admin scope"),
        ("/workflows/ingest/invoke", {"input": {"files": [{"source": "a", "text": " "}]}}, "blank"),
        ("/workflows/ingest/invoke", {"input": {"texts": ["ok", " "]}}, "texts[1] is blank"),
    ],
)
async def test_bad_input_is_a_4xx_that_says_what_to_fix(
    client: httpx.AsyncClient, path: str, body: dict[str, object], fragment: str
) -> None:
    response = await client.post(path, json=body)
    assert 400 <= response.status_code < 500
    assert fragment in response.text


async def test_invalid_json_is_a_4xx(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/workflows/rag/invoke", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "Invalid JSON" in response.text


@pytest.mark.parametrize("top_k", ["many", 0, 51])
async def test_a_bad_top_k_is_refused(client: httpx.AsyncClient, top_k: object) -> None:
    response = await client.post(
        "/workflows/rag/invoke",
        json={"input": {"question": "q"}, "config": {"configurable": {"top_k": top_k}}},
    )
    assert 400 <= response.status_code < 500
    assert "top_k" in response.text


async def test_unknown_model_alias_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/workflows/rag/invoke",
        json={"input": {"question": "q"}, "config": {"configurable": {"chat_model": "gpt-9"}}},
    )
    assert response.status_code == 400
    assert "unknown chat_model 'gpt-9'" in response.text


async def test_schemas_playground_and_home(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/workflows/rag/input_schema")).json()
    assert schema["required"] == ["question"]
    config_schema = (await client.get("/workflows/rag/config_schema")).json()
    assert "thread_id" in str(config_schema)
    playground = await client.get("/workflows/rag/playground/")
    assert playground.status_code == 200
    assert "<html" in playground.text.lower()
    home = await client.get("/")
    assert "/workflows/rag/playground/" in home.text
    assert (await client.get("/openapi.json")).status_code == 200


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    for probe in ("/health", "/ok"):  # what uptime monitors send
        assert (await client.head(probe)).status_code == 200, probe
    detailed = await client.get("/health/detailed")
    assert detailed.status_code == 200
    body = detailed.json()
    assert body["status"] == "ok"
    assert {"checkpointer:sqlite", "qdrant", "model:llm-01", "model:embed-01"} <= set(
        body["checks"]
    )


@pytest.mark.parametrize("workflow", ["rag-chat", "agent"])
async def test_chat_workflows_take_openai_style_messages_as_the_runs_api_does(
    client: httpx.AsyncClient, workflow: str
) -> None:
    """`{"role": "user", "content": ...}` ran through the runs API and was a 422 here."""
    body = {"input": {"messages": [{"role": "user", "content": "When is tea served?"}]}}
    answered = await client.post(f"/workflows/{workflow}/invoke", json=body)
    assert answered.status_code == 200, answered.text
    messages = answered.json()["output"]["messages"]
    assert messages[0]["type"] == "human"
    assert messages[-1]["type"] == "ai"
    bogus = {"input": {"messages": [{"role": "bogus", "content": "x"}]}}
    refused = await client.post(f"/workflows/{workflow}/invoke", json=bogus)
    assert refused.status_code == 422, refused.text
