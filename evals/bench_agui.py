"""Time to first event and to first text token: `/agui/{workflow}` against in-process.

The same question goes, alternately, to the compiled graph's `astream_events` in this
process and to `POST /agui/{workflow}` over loopback HTTP (uvicorn on the same event loop,
httpx streaming the response), on the local models. Each run uses a new thread and is read
to its end, so no generation overlaps the next run. Prints medians; asserts nothing.

    .venv/bin/python -m evals.bench_agui [--runs 5] [--workflow agent]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from langchain_core.messages import HumanMessage

from evals.harness.runner import corpus_files
from graphs.context import Context
from server.app import create_app
from server.settings import Settings

QUESTION = "Who led the Project Falcon crane retrofit?"
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"


async def in_process(graph: object, context: Context) -> tuple[float, float]:
    """Return seconds to the first event and to the first streamed token."""
    started = time.perf_counter()
    first_event = first_token = None
    config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex}"}}
    async for event in graph.astream_events(  # type: ignore[attr-defined]
        {"messages": [HumanMessage(QUESTION)]}, config, context=context, version="v2"
    ):
        now = time.perf_counter() - started
        first_event = first_event if first_event is not None else now
        chunk = event["data"].get("chunk") if event["event"] == "on_chat_model_stream" else None
        if first_token is None and chunk is not None and str(chunk.content):
            first_token = now
    return first_event or 0.0, first_token or 0.0


async def over_http(client: httpx.AsyncClient, workflow: str) -> tuple[float, float]:
    """Return seconds to the first SSE event and to the first TEXT_MESSAGE_CONTENT."""
    body = {
        "threadId": f"bench-{uuid.uuid4().hex}",
        "runId": uuid.uuid4().hex,
        "messages": [{"id": uuid.uuid4().hex, "role": "user", "content": QUESTION}],
    }
    started = time.perf_counter()
    first_event = first_token = None
    async with client.stream("POST", f"/agui/{workflow}", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            now = time.perf_counter() - started
            first_event = first_event if first_event is not None else now
            if first_token is None and '"TEXT_MESSAGE_CONTENT"' in line:
                first_token = now
    return first_event or 0.0, first_token or 0.0


async def main(runs: int, workflow: str) -> None:
    """Serve the app on loopback and time both paths alternately."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), chat_max_tokens=32)
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, port=0, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            ingested = await client.post(
                "/workflows/ingest/invoke", json={"input": {"files": corpus_files(CORPUS)}}
            )
            ingested.raise_for_status()
            graph = app.state.resources.graphs[workflow]
            context = Context(embedding_model=settings.embedding_alias)
            await in_process(graph, context)  # warm both paths once
            await over_http(client, workflow)
            local, remote = [], []
            for _ in range(runs):
                local.append(await in_process(graph, context))
                remote.append(await over_http(client, workflow))
        server.should_exit = True
        await serving

    def median(samples: list[tuple[float, float]], index: int) -> float:
        return statistics.median(sample[index] for sample in samples) * 1000

    print(f"{workflow}, {runs} runs each, local models, medians:")
    for label, index in (("first event", 0), ("first text token", 1)):
        a, b = median(local, index), median(remote, index)
        print(f"  {label:<17} in-process {a:8.1f} ms   /agui over HTTP {b:8.1f} ms", end="")
        print(f"   ({b - a:+.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workflow", default="agent")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.workflow))
