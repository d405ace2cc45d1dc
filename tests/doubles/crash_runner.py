"""A process that runs a three-step graph on the service's PostgreSQL checkpointer, to be killed.

    python -m tests.doubles.crash_runner POSTGRES_URL THREAD_ID WORKDIR start|resume

`plan → draft → publish`, compiled with the service's durability (`graphs.durable`) over
`checkpoints.open_checkpointer`, as the server compiles its workflows. Each node appends
to `WORKDIR/log` (a side effect a re-run would repeat): `<node> started` when it starts
and `<node>` when it is done. `draft` waits forever while `WORKDIR/hold` exists, so a test
can `kill -9` the process in the middle of it. `start` runs the graph on new input;
`resume` continues the thread from its last checkpoint (`ainvoke(None)`), as LangGraph
resumes an interrupted run. The final state is printed as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from checkpoints import open_checkpointer
from graphs import durable


class State(TypedDict, total=False):
    topic: str
    plan: str
    draft: str
    published: bool


def build(workdir: Path, checkpointer: Any) -> Any:
    log = workdir / "log"

    def note(line: str) -> None:
        with log.open("a") as file:
            file.write(line + "\n")

    async def plan(state: State) -> State:
        note("plan started")
        note("plan")
        return {"plan": f"write about {state['topic']}"}

    async def draft(state: State) -> State:
        note("draft started")
        while (workdir / "hold").exists():  # noqa: ASYNC110 - a file, not an event: another process's signal
            await asyncio.sleep(0.05)
        note("draft")
        return {"draft": f"a draft to {state['plan']}"}

    async def publish(state: State) -> State:
        note("publish started")
        note("publish")
        return {"published": True}

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("draft", draft)
    builder.add_node("publish", publish)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "draft")
    builder.add_edge("draft", "publish")
    builder.add_edge("publish", END)
    return durable(builder.compile(checkpointer=checkpointer, name="crash"))


async def main(url: str, thread_id: str, workdir: Path, mode: str) -> None:
    async with open_checkpointer(postgres_url=url, sqlite_path=workdir / "unused") as store:
        graph = build(workdir, store.saver)
        config = {"configurable": {"thread_id": thread_id}}
        output = await graph.ainvoke({"topic": "falcons"} if mode == "start" else None, config)
        print(json.dumps(output), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]))
