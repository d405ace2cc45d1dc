"""AG-UI 1.0 stream rules on `/agui/{workflow}`, over the scripted tool-calling model."""

import httpx
import pytest

from tests.unit.server.agui.support import Streamed, run_input, stream, user

pytestmark = pytest.mark.filterwarnings("ignore:forwardedProps.command.resume is deprecated")


def assert_well_formed(result: Streamed, thread_id: str) -> None:
    """The rules every run must keep, whatever it did."""
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.headers["cache-control"] == "no-cache"
    assert result.headers["x-accel-buffering"] == "no"
    assert b"\r" not in result.raw
    for frame in result.raw.decode().split("\n\n")[:-1]:
        assert frame.startswith(("data: ", ":")), frame
        assert "null" not in frame, f"optional field sent as null: {frame}"
    assert result.types[0] == "RUN_STARTED"
    assert result.events[0]["threadId"] == thread_id
    assert result.events[0]["protocolVersion"] == "1.0"
    terminals = [t for t in result.types if t in ("RUN_FINISHED", "RUN_ERROR")]
    assert len(terminals) == 1 and result.types[-1] == terminals[0]
    assert "RAW" not in result.types
    assert all(isinstance(event.get("timestamp"), int) for event in result.events)
    if terminals[0] == "RUN_FINISHED":
        for start, end, key in [
            ("TEXT_MESSAGE_START", "TEXT_MESSAGE_END", "messageId"),
            ("TOOL_CALL_START", "TOOL_CALL_END", "toolCallId"),
            ("STEP_STARTED", "STEP_FINISHED", "stepName"),
        ]:
            opened = [e[key] for e in result.of(start)]
            closed = [e[key] for e in result.of(end)]
            assert sorted(opened) == sorted(closed), (start, opened, closed)
    for snapshot in result.of("STATE_SNAPSHOT"):
        assert "messages" not in snapshot["snapshot"]


async def test_a_plain_answer_streams_text_whose_id_is_in_the_snapshot(
    client: httpx.AsyncClient,
) -> None:
    result = await stream(client, "agent", run_input("t-plain", [user("hello there")]))
    assert_well_formed(result, "t-plain")
    assert result.text == "Scripted answer: hello there"
    assert [m["role"] for m in result.messages] == ["user", "assistant"]
    assert result.messages[1]["id"] == result.of("TEXT_MESSAGE_START")[0]["messageId"]


async def test_a_backend_tool_turn_keeps_ids_equal_to_the_checkpoint(
    client: httpx.AsyncClient,
) -> None:
    result = await stream(client, "agent", run_input("t-tool", [user("search for Falcon")]))
    assert_well_formed(result, "t-tool")
    call = result.of("TOOL_CALL_START")[0]
    assert (
        "".join(e["delta"] for e in result.of("TOOL_CALL_ARGS")) == '{"query": "search for Falcon"}'
    )
    tool_result = result.of("TOOL_CALL_RESULT")[0]
    assert tool_result["toolCallId"] == call["toolCallId"]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert result.messages[1]["id"] == call["parentMessageId"]
    assert result.messages[2]["id"] == tool_result["messageId"]
    assert result.messages[3]["id"] == result.of("TEXT_MESSAGE_START")[0]["messageId"]
    graph = client._transport.app.state.resources.graphs["agent"]  # type: ignore[attr-defined]
    saved = (await graph.aget_state({"configurable": {"thread_id": "t-tool"}})).values["messages"]
    assert [m.id for m in saved] == [m["id"] for m in result.messages]


async def test_a_second_turn_with_the_full_history_appends_only_the_new_message(
    client: httpx.AsyncClient,
) -> None:
    first = await stream(client, "agent", run_input("t-two", [user("search for tea")]))
    history = [*first.messages, user("and thanks")]
    second = await stream(client, "agent", run_input("t-two", history))
    assert_well_formed(second, "t-two")
    assert [m["id"] for m in second.messages[:4]] == [m["id"] for m in first.messages]
    assert [m["role"] for m in second.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert second.text == "Scripted answer: and thanks"


async def test_client_state_and_forwarded_props_cannot_write_graph_state(
    client: httpx.AsyncClient,
) -> None:
    body = run_input(
        "t-state",
        [user("hello")],
        state={
            "route": "llm-02",
            "model": "forged",
            "sources": [{"source": "x", "text": "y", "score": 1}],
        },
        forwardedProps={"route": "llm-02", "model": "forged", "node_name": "tools"},
    )
    result = await stream(client, "agent", body)
    assert_well_formed(result, "t-state")
    final = result.of("STATE_SNAPSHOT")[-1]["snapshot"]
    assert final.get("model") == "llm-01"
    assert final.get("sources", []) == []


async def test_the_frontend_tool_round_trip(client: httpx.AsyncClient) -> None:
    tools = [
        {
            "name": "show_banner",
            "description": "Show a banner.",
            "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
        }
    ]
    first = await stream(client, "agent", run_input("t-fe", [user("frontend please")], tools=tools))
    assert_well_formed(first, "t-fe")
    call = first.of("TOOL_CALL_START")[0]
    assert call["toolCallName"] == "show_banner"
    assert not first.of("TOOL_CALL_RESULT")
    answer = {
        "id": "fe-result-1",
        "role": "tool",
        "toolCallId": call["toolCallId"],
        "content": "banner shown",
    }
    second = await stream(
        client, "agent", run_input("t-fe", [*first.messages, answer], tools=tools)
    )
    assert_well_formed(second, "t-fe")
    assert second.text == "Scripted answer: the frontend said banner shown"


async def test_a_failing_model_ends_with_run_error_and_the_thread_stays_usable(
    client: httpx.AsyncClient,
) -> None:
    failed = await stream(client, "agent", run_input("t-fail", [user("please fail")]))
    assert_well_formed(failed, "t-fail")
    error = failed.events[-1]
    assert error["type"] == "RUN_ERROR" and error["code"]
    assert "Traceback" not in error["message"] and len(error["message"]) <= 300
    again = await stream(client, "agent", run_input("t-fail", [user("hello again")]))
    assert_well_formed(again, "t-fail")
    assert again.text == "Scripted answer: hello again"


async def test_unknown_workflows_bad_bodies_and_the_listing(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/agui")).json()["workflows"]
    assert {w["name"] for w in listing} == {"agent", "rag-chat"}
    assert (await client.post("/agui/ingest", json=run_input("t", [user("x")]))).status_code == 404
    assert (await client.post("/agui/agent", json={"messages": []})).status_code == 422


async def test_a_busy_thread_refuses_a_second_run_with_409(client: httpx.AsyncClient) -> None:
    first = await stream(client, "agent", run_input("t-busy", [user("hello")]))
    assert first.status == 200
    # A run queued on the thread through the runs API holds it on every surface.
    queued = await client.post(
        "/threads/t-busy/runs",
        json={"assistant_id": "agent", "input": None, "after_seconds": 3600},
    )
    assert queued.status_code == 200, queued.text
    refused = await client.post("/agui/agent", json=run_input("t-busy", [user("again")]))
    assert refused.status_code == 409 and "already has a run" in refused.json()["detail"]
    run_id = queued.json()["run_id"]
    assert (await client.post(f"/threads/t-busy/runs/{run_id}/cancel")).status_code in (
        200,
        202,
        204,
    )
    assert (await stream(client, "agent", run_input("t-busy", [user("now")]))).status == 200


async def test_rag_chat_answers_with_sources_in_state(client: httpx.AsyncClient) -> None:
    await client.post(
        "/workflows/ingest/invoke",
        json={"input": {"texts": ["Green tea is served in the kitchen at ten."], "paths": []}},
    )
    result = await stream(
        client, "rag-chat", run_input("t-rag", [user("When is green tea served?")])
    )
    assert_well_formed(result, "t-rag")
    assert result.text.startswith("Scripted answer:")
    assert "Green tea" in result.of("STATE_SNAPSHOT")[-1]["snapshot"]["sources"][0]["text"]
    assert [m["role"] for m in result.messages] == ["user", "assistant"]
    assert result.messages[1]["id"] == result.of("TEXT_MESSAGE_START")[0]["messageId"]
    assert result.messages[1]["id"] == result.of("TEXT_MESSAGE_START")[0]["messageId"]


async def test_rag_chat_with_nothing_found_still_streams_its_answer(
    client: httpx.AsyncClient,
) -> None:
    result = await stream(
        client, "rag-chat", run_input("t-empty", [user("Anything about zebras?")])
    )
    assert_well_formed(result, "t-empty")
    assert result.text and result.text == result.messages[1]["content"]
    assert result.messages[1]["id"] == result.of("TEXT_MESSAGE_START")[0]["messageId"]
