"""The run config and command a run's body turns into."""

from langgraph.types import Send

from server.runs.execute import command_from, run_config
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
