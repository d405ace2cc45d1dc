"""The run config and command a run's body turns into, and the events its chunks become."""

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.types import Send

from server.runs.execute import StreamTranslator, command_from, run_config
from server.runs.records import RunRecord


def run_with(**kwargs: object) -> RunRecord:
    return RunRecord(
        run_id="9f1c6a8e-0000-4000-8000-000000000001",
        thread_id="t-1",
        assistant_id="a",
        graph_id="echo",
        owner="ana",
        kwargs=dict(kwargs),
        attempt=1,
    )


def test_the_caller_may_lower_the_recursion_limit_never_raise_it() -> None:
    assert (
        run_config(run_with(config={"recursion_limit": 5}), recursion_limit=25)["recursion_limit"]
        == 5
    )
    assert (
        run_config(run_with(config={"recursion_limit": 10_000}), recursion_limit=25)[
            "recursion_limit"
        ]
        == 25
    )
    assert run_config(run_with(), recursion_limit=25)["recursion_limit"] == 25


def test_the_server_sets_the_thread_and_drops_langgraph_internals() -> None:
    config = run_config(
        run_with(
            config={"configurable": {"thread_id": "someone-else", "__pregel_x": 1, "k": "v"}},
            checkpoint={"checkpoint_id": "c-1"},
        ),
        recursion_limit=25,
    )
    assert config["configurable"] == {
        "thread_id": "t-1",
        "k": "v",
        "checkpoint_id": "c-1",
        "checkpoint_ns": "",
    }
    assert config["metadata"]["run_id"] == "9f1c6a8e-0000-4000-8000-000000000001"


def test_a_retry_gets_a_fresh_trace_id() -> None:
    first = run_with()
    retry = run_with()
    retry.attempt = 2
    assert str(run_config(first, recursion_limit=25)["run_id"]) == first.run_id
    assert str(run_config(retry, recursion_limit=25)["run_id"]) != retry.run_id


def test_commands_map_resume_update_and_goto_sends() -> None:
    command = command_from(
        {"resume": {"approved": True}, "update": [["k", 1]], "goto": {"node": "n", "input": {}}}
    )
    assert command.resume == {"approved": True}
    assert command.update == [("k", 1)]
    assert command.goto == Send("n", {})
    assert command_from({"goto": ["a", {"node": "b", "input": 2}]}).goto == ["a", Send("b", 2)]


class Emitted:
    """What a translator emits, in order (a stand-in for a run's event log)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def emit(self, event: str, data: Any) -> None:
        self.events.append((event, data))


def translator(*modes: str) -> tuple[StreamTranslator, Emitted]:
    emitted = Emitted()
    return StreamTranslator(list(modes), False, emitted), emitted  # type: ignore[arg-type]


def test_a_streamed_reply_ends_with_messages_complete_once_it_is_in_the_state() -> None:
    read, emitted = translator("messages")
    question = HumanMessage("hi", id="h-1")
    read.take((), "values", {"messages": [question]})
    for token in ("Hel", "lo"):
        read.take((), "messages", (AIMessageChunk(token, id="a-1"), {"langgraph_node": "agent"}))
    reply = AIMessage("Hello", id="a-1")
    read.take((), "values", {"messages": [question, reply]})
    read.take((), "values", {"messages": [question, reply]})  # each message once per run
    assert [name for name, _ in emitted.events] == [
        "messages/complete",
        "messages/metadata",
        "messages/partial",
        "messages/partial",
        "messages/complete",
    ]
    assert emitted.events[0][1] == [question]
    assert emitted.events[3][1][0].content == "Hello"
    assert emitted.events[4][1] == [reply]


def test_values_alone_announce_no_messages() -> None:
    read, emitted = translator("values")
    read.take((), "values", {"messages": [HumanMessage("hi", id="h-1")]})
    assert [name for name, _ in emitted.events] == ["values"]


def test_debug_checkpoints_carry_the_checkpoints_history_shows() -> None:
    read, emitted = translator("debug")
    config = {"configurable": {"thread_id": "t-1", "checkpoint_ns": "", "checkpoint_id": "c-2"}}
    parent = {"configurable": {"thread_id": "t-1", "checkpoint_ns": "", "checkpoint_id": "c-1"}}
    inner = {"configurable": {"thread_id": "t-1", "checkpoint_ns": "inner:x", "__pregel_y": 1}}
    payload = {
        "config": config,
        "parent_config": parent,
        "values": {},
        "metadata": {"step": 1},
        "next": ["inner"],
        "tasks": [{"id": "x", "name": "inner", "interrupts": [], "state": inner}],
    }
    read.take((), "debug", {"type": "checkpoint", "step": 1, "payload": payload})
    [(name, data)] = emitted.events
    shown = data["payload"]
    assert name == "debug" and data["type"] == "checkpoint"
    assert shown["checkpoint"] == {**config["configurable"], "checkpoint_map": None}
    assert shown["parent_checkpoint"]["checkpoint_id"] == "c-1"
    assert shown["config"] == config  # kept, as langgraph-api keeps it
    [task] = shown["tasks"]
    assert task["checkpoint"]["checkpoint_ns"] == "inner:x"
    assert "__pregel_y" not in task["state"]["configurable"]
