"""Approval through `interrupt()`: structured outcome, both resume channels, refusals."""

import operator
from typing import Annotated, Any

import httpx
import pytest
from ag_ui.core import RunAgentInput
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from graphs.context import Context
from server.agui.agent import OrcaAgent
from tests.unit.server.agui.support import run_input, stream, user
from tests.unit.server.agui.test_stream_rules import assert_well_formed

pytestmark = pytest.mark.filterwarnings("ignore:forwardedProps.command.resume is deprecated")


async def ask_to_save(
    client: httpx.AsyncClient, thread_id: str, note: str
) -> tuple[dict[str, Any], list[dict]]:
    result = await stream(client, "agent", run_input(thread_id, [user(f"note: {note}")]))
    assert_well_formed(result, thread_id)
    outcome = result.events[-1]["outcome"]
    assert outcome["type"] == "interrupt"
    custom = result.of("CUSTOM")
    assert custom and custom[0]["name"] == "on_interrupt"  # CopilotKit's legacy channel too
    return outcome["interrupts"][0], result.messages


async def test_approve_runs_the_tool_and_the_note_becomes_searchable(
    client: httpx.AsyncClient,
) -> None:
    pending, history = await ask_to_save(client, "t-approve", "the rota changes on Monday")
    assert pending["reason"] == "confirmation"
    assert pending["responseSchema"]["required"] == ["approved"]
    resume = [{"interruptId": pending["id"], "status": "resolved", "payload": {"approved": True}}]
    resumed = await stream(client, "agent", run_input("t-approve", history, resume=resume))
    assert_well_formed(resumed, "t-approve")
    results = resumed.of("TOOL_CALL_RESULT")
    assert [r["toolCallId"] for r in results] == [pending["toolCallId"]]
    assert not resumed.of("TOOL_CALL_ARGS")  # the client holds them; it would append them
    restarted = resumed.of("TOOL_CALL_START")  # each run's stream stands alone
    assert [(e["toolCallId"], e["parentMessageId"]) for e in restarted] == [
        (pending["toolCallId"], history[1]["id"])
    ]
    assert resumed.text == "Saved the note."
    assert resumed.messages[2]["id"] == results[0]["messageId"]
    found = await stream(
        client, "agent", run_input("t-search", [user("search rota changes on Monday")])
    )
    assert "found 1 passages" in found.text


async def test_reject_answers_the_call_without_running_it(client: httpx.AsyncClient) -> None:
    pending, history = await ask_to_save(client, "t-reject", "do not keep this")
    resume = [{"interruptId": pending["id"], "status": "resolved", "payload": {"approved": False}}]
    resumed = await stream(client, "agent", run_input("t-reject", history, resume=resume))
    assert_well_formed(resumed, "t-reject")
    assert resumed.text == "The note was not saved."
    assert resumed.of("TOOL_CALL_RESULT")[0]["toolCallId"] == pending["toolCallId"]
    cancelled, history = await ask_to_save(client, "t-cancel", "nor this")
    resume = [{"interruptId": cancelled["id"], "status": "cancelled"}]
    assert (
        await stream(client, "agent", run_input("t-cancel", history, resume=resume))
    ).text == "The note was not saved."


async def test_the_legacy_copilotkit_resume_channel_works(client: httpx.AsyncClient) -> None:
    _, history = await ask_to_save(client, "t-legacy", "legacy resume")
    body = run_input(
        "t-legacy", history, forwardedProps={"command": {"resume": '{"approved": true}'}}
    )
    resumed = await stream(client, "agent", body)
    assert_well_formed(resumed, "t-legacy")
    assert resumed.text == "Saved the note."


@pytest.mark.parametrize(
    ("make_body", "code"),
    [
        (
            lambda pending, history: run_input("t-bad", [*history, user("something else")]),
            "INTERRUPT_PENDING",
        ),
        (
            lambda pending, history: run_input(
                "t-bad",
                history,
                resume=[
                    {
                        "interruptId": "not-an-id",
                        "status": "resolved",
                        "payload": {"approved": True},
                    }
                ],
            ),
            "UNKNOWN_INTERRUPT",
        ),
        (
            lambda pending, history: run_input(
                "t-bad",
                history,
                resume=[
                    {"interruptId": pending["id"], "status": "resolved", "payload": answer}
                    for answer in ({"approved": True}, {"approved": False})
                ],
            ),
            "DUPLICATE_RESUME",
        ),
    ],
)
async def test_a_resume_that_does_not_fit_is_a_run_error(
    client: httpx.AsyncClient, make_body: Any, code: str
) -> None:
    pending, history = await ask_to_save(client, "t-bad", "pending")
    before = (await client.get("/threads/t-bad")).json()
    refused = await stream(client, "agent", make_body(pending, history))
    assert_well_formed(refused, "t-bad")
    assert refused.events[-1]["type"] == "RUN_ERROR"
    assert refused.events[-1]["code"] == code
    # Refused before any run: the thread keeps its status and open interrupt (it was made
    # `error`, its interrupts hidden), and no failed run is recorded.
    after = (await client.get("/threads/t-bad")).json()
    assert (after["status"], after["interrupts"]) == ("interrupted", before["interrupts"])
    runs = (await client.get("/threads/t-bad/runs")).json()
    assert all(run["status"] != "error" for run in runs)
    resume = [{"interruptId": pending["id"], "status": "resolved", "payload": {"approved": True}}]
    assert (
        await stream(client, "agent", run_input("t-bad", history, resume=resume))
    ).text == "Saved the note."


async def test_resuming_a_thread_with_nothing_open_is_a_run_error(
    client: httpx.AsyncClient,
) -> None:
    resume = [{"interruptId": "x", "status": "resolved", "payload": {"approved": True}}]
    refused = await stream(client, "agent", run_input("t-none", [user("hi")], resume=resume))
    assert refused.events[-1]["code"] == "NO_PENDING_INTERRUPT"


class TwoApprovals(TypedDict, total=False):
    answers: Annotated[list[str], operator.add]


def two_approvals_graph() -> Any:
    def ask(name: str) -> Any:
        def node(state: TwoApprovals) -> dict[str, Any]:
            return {"answers": [f"{name}={interrupt({'reason': 'confirmation', 'message': name})}"]}

        return node

    builder = StateGraph(TwoApprovals)
    builder.add_node("left", ask("left"))
    builder.add_node("right", ask("right"))
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    return builder.compile(checkpointer=InMemorySaver())


async def collect(agent: OrcaAgent, body: dict[str, Any]) -> list[Any]:
    return [event async for event in agent.run(RunAgentInput.model_validate(body))]


async def test_parallel_interrupts_need_every_answer_and_get_them_by_id() -> None:
    graph = two_approvals_graph()
    agent = OrcaAgent(name="two", graph=graph, context=Context())
    first = await collect(agent, run_input("t-two", [user("go")]))
    interrupts = first[-1].outcome.interrupts
    assert len(interrupts) == 2
    partial = [{"interruptId": interrupts[0].id, "status": "resolved", "payload": "yes"}]
    refused = await collect(
        OrcaAgent(name="two", graph=graph, context=Context()),
        run_input("t-two", [], resume=partial),
    )
    assert refused[-1].code == "PARTIAL_RESUME"
    both = [
        {"interruptId": i.id, "status": "resolved", "payload": f"ok-{i.message}"}
        for i in interrupts
    ]
    await collect(
        OrcaAgent(name="two", graph=graph, context=Context()), run_input("t-two", [], resume=both)
    )
    state = await graph.aget_state({"configurable": {"thread_id": "t-two"}})
    assert sorted(state.values["answers"]) == ["left=ok-left", "right=ok-right"]
