"""A cap on concurrent streams per caller: one more is 429 before any stream starts."""

import asyncio

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from server.app import create_app
from server.embeddings.errors import ApiError
from server.guards.streams import ReleaseAfterResponse, StreamSlots, after_response
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.stalled_chat import StalledChatModel, stalled_models
from tests.support import eventually, live_server, serving
from tests.unit.server.agui.support import run_input, stream, user

CALLER = "ip:127.0.0.1"  # what in-process and loopback clients count as
RAG_STREAM = {"input": {"question": "Who led Project Falcon?"}}


def test_slots_are_counted_per_caller_and_given_back() -> None:
    slots = StreamSlots(per_identity=2)
    with slots.hold("a"), slots.hold("a"), slots.hold("b"):
        with pytest.raises(ApiError) as refused, slots.hold("a"):
            pass
        assert (refused.value.status, refused.value.code) == (429, "too_many_streams")
        assert refused.value.headers()["Retry-After"] == "5"
        assert (slots.open_for("a"), slots.open_for("b")) == (2, 1)
    assert (slots.open_for("a"), slots.open_for("b")) == (0, 0)


def test_a_slot_is_given_back_when_the_stream_fails() -> None:
    slots = StreamSlots(per_identity=1)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the stream broke")
    assert slots.open_for("a") == 0


def test_a_slot_is_given_back_once_however_often_released() -> None:
    slots = StreamSlots(per_identity=2)
    release = slots.take("a")
    slots.take("a")
    release()
    release()
    assert slots.open_for("a") == 1


async def test_slots_taken_by_a_request_are_given_back_when_its_response_ends() -> None:
    slots = StreamSlots(per_identity=1)
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        after_response(scope, slots.take("a"))
        seen.append(slots.open_for("a"))
        raise RuntimeError("the response broke")

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    with pytest.raises(RuntimeError):
        await ReleaseAfterResponse(app)({"type": "http"}, receive, send)
    assert seen == [1] and slots.open_for("a") == 0
    with pytest.raises(RuntimeError, match="ReleaseAfterResponse"):
        after_response({"type": "http"}, slots.take("b"))


async def test_the_fifth_stream_is_refused_until_one_ends(settings: Settings) -> None:
    model = StalledChatModel()
    app = create_app(settings, models=stalled_models(model), embedder=fake_embedder())
    slots = app.state.guards.streams
    async with serving(app) as client:
        ingest = {"input": {"texts": ["Project Falcon was led by Ingrid Solberg."]}}
        assert (await client.post("/workflows/ingest/invoke", json=ingest)).status_code == 200
        held = [
            asyncio.create_task(stream(client, "agent", run_input(f"t-{i}", [user("hi")])))
            for i in range(3)
        ]
        held.append(asyncio.create_task(client.post("/workflows/rag/stream", json=RAG_STREAM)))
        await eventually(lambda: slots.open_for(CALLER) == 4 and len(model.waiting) == 4)

        refused = await stream(client, "agent", run_input("t-5", [user("hi")]))
        refused_langserve = await client.post("/workflows/rag/stream_events", json=RAG_STREAM)
        assert refused.status == 429 and not refused.events
        assert refused.headers["retry-after"] == "5"
        assert "Too many concurrent streams" in refused.raw.decode()
        assert refused_langserve.status_code == 429
        assert (await client.get("/agui")).status_code == 200  # only streams are capped

        held[0].cancel()  # the client goes away
        await asyncio.gather(held[0], return_exceptions=True)
        await eventually(lambda: slots.open_for(CALLER) == 3)
        held.append(asyncio.create_task(stream(client, "agent", run_input("t-6", [user("hi")]))))
        await eventually(lambda: slots.open_for(CALLER) == 4)
        model.released.set()
        finished = await asyncio.gather(*held[1:])
    assert [getattr(r, "status", getattr(r, "status_code", None)) for r in finished] == [200] * 4
    assert slots.open_for(CALLER) == 0


def test_a_client_that_hangs_up_gives_its_slot_back(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_streams_per_identity": 1})
    app = create_app(settings, models=stalled_models(StalledChatModel()), embedder=fake_embedder())
    slots = app.state.guards.streams
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for thread in ("t-first", "t-second"):  # the second is admitted only once the first is gone
            body = run_input(thread, [user("hi")])
            with client.stream("POST", "/agui/agent", json=body) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                seen = [next(lines)]
                while "RUN_STARTED" not in seen[-1]:
                    seen.append(next(lines))
                # While this stream is open (its model stalls), the caller's one slot is taken.
                other = client.post("/agui/agent", json=run_input(f"{thread}-x", [user("hi")]))
                assert other.status_code == 429, (other.status_code, other.text[:300], seen)
            asyncio.run(eventually(lambda: slots.open_for(CALLER) == 0))
