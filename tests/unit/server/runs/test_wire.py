"""What readers of a run's stream get: ids, mode filters, Last-Event-ID, a store outage."""

import asyncio
from typing import Any

import orjson
import psycopg
import pytest
from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from starlette.requests import Request

from server.runs.events import EventLog
from server.runs.records import StoredEvent
from server.runs.signals import Signals
from server.runs.wire import (
    frame,
    last_event_id,
    parse_modes,
    sse_response,
    wait_response,
    wanted,
)
from tests.doubles.flaky_store import FlakyStore


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw})


def test_last_event_id_is_a_seq_or_a_400() -> None:
    assert last_event_id(request_with({})) == 0
    assert last_event_id(request_with({"Last-Event-ID": "17"})) == 17
    assert last_event_id(request_with({"Last-Event-ID": "-1"})) == 0  # the JS SDK's "all"
    with pytest.raises(HTTPException):
        last_event_id(request_with({"Last-Event-ID": "-2"}))
    with pytest.raises(HTTPException) as refused:
        last_event_id(request_with({"Last-Event-ID": "1700000000-0"}))
    assert refused.value.status_code == 400
    # Digits to `str.isdigit` that `int` refuses (`²` is one byte in Latin-1), and a number
    # past any seq (int() stops at 4,300 digits): 400s, not 500s.
    for raw in (b"\xb2", b"1\xb9", b"9" * 5000, b"9" * 19):
        with pytest.raises(HTTPException) as refused:
            last_event_id(Request({"type": "http", "headers": [(b"last-event-id", raw)]}))
        assert refused.value.status_code == 400


def test_modes_come_repeated_or_as_a_json_array() -> None:
    assert parse_modes(None) is None
    assert parse_modes(["values", "updates"]) == {"values", "updates"}
    assert parse_modes(['["values","messages-tuple"]']) == {"values", "messages-tuple"}
    with pytest.raises(HTTPException):
        parse_modes(["[not json"])


@pytest.mark.parametrize(
    ("event", "modes", "shown"),
    [
        ("values", {"values"}, True),
        ("updates", {"values"}, False),
        ("updates|sub:1", {"updates"}, True),
        ("messages/partial", {"messages"}, True),
        ("messages", {"messages-tuple"}, True),
        ("metadata", {"values"}, True),
        ("end", {"values"}, False),
        ("end", None, False),
        ("error", {"custom"}, True),
    ],
)
def test_a_reader_gets_its_modes_and_always_metadata_and_error_never_end(
    event: str, modes: set[str] | None, shown: bool
) -> None:
    assert wanted(StoredEvent(1, event, b"{}"), modes) is shown


def test_frames_carry_the_event_id() -> None:
    assert frame(StoredEvent(7, "values", b'{"a":1}')) == (
        b'event: values\ndata: {"a":1}\nid: 7\n\n'
    )
    assert frame(StoredEvent(8, "end", b"")) == b"event: end\ndata: null\nid: 8\n\n"


# A reader that gave up on the store -------------------------------------------------
async def body_of(response: StreamingResponse) -> bytes:
    return b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[misc]


async def test_a_stream_whose_store_stayed_away_ends_with_an_error_event_not_a_cut() -> None:
    store = FlakyStore()
    await store.append_events("run-1", [StoredEvent(1, "values", b"{}")])
    log = EventLog(store, Signals(), poll_s=0.05, patience_s=0.3)
    left: list[str] = []

    async def is_active() -> bool:
        store.down = True  # the database goes away after the first event
        return True

    async def on_disconnect() -> None:
        left.append("cancelled")

    response = sse_response(
        log,
        "run-1",
        after=0,
        modes=None,
        keepalive_s=0.05,
        is_active=is_active,
        on_disconnect=on_disconnect,
        headers={},
    )
    body = await body_of(response)
    assert body.startswith(b"event: values\ndata: {}\nid: 1\n\n")
    last = body.rstrip(b"\n").split(b"\n\n")[-1]
    assert last.startswith(b"event: error\ndata: ")
    assert b"\nid:" not in last  # the client resumes after the last event it really got
    error = orjson.loads(last.split(b"data: ", 1)[1])
    assert error["error"] == "RunStoreUnavailable"
    assert "Last-Event-ID" in error["message"]
    assert left == []  # the run is not cancelled: the client did not leave


async def test_a_wait_whose_store_stayed_away_answers_an_error_result_not_a_cut() -> None:
    async def result() -> Any:
        await asyncio.sleep(0.12)  # two keepalives: the response has started
        raise psycopg.OperationalError("the database system is shutting down")

    response = await wait_response(result, keepalive_s=0.05, on_disconnect=None, headers={})
    body = await body_of(response)
    assert body.startswith(b"\n")
    answer = orjson.loads(body)  # leading newlines are JSON whitespace
    assert answer["__error__"]["error"] == "RunStoreUnavailable"
    assert "/join" in answer["__error__"]["message"]


async def test_a_quick_wait_is_one_plain_response() -> None:
    async def result() -> Any:
        return {"count": 1}

    headers = {"Content-Location": "/threads/t/runs/r"}
    response = await wait_response(result, keepalive_s=5, on_disconnect=None, headers=headers)
    assert not isinstance(response, StreamingResponse)
    assert orjson.loads(response.body) == {"count": 1}
    assert response.headers["Content-Location"] == "/threads/t/runs/r"


async def test_a_stream_stops_at_the_logs_end_without_sending_it() -> None:
    store = FlakyStore()
    events = [StoredEvent(1, "metadata", b"{}"), StoredEvent(2, "values", b"{}")]
    await store.append_events("run-1", [*events, StoredEvent(3, "end", b"")])
    log = EventLog(store, Signals(), poll_s=0.05)

    async def is_active() -> bool:
        return True  # it would be followed for ever without its `end`

    response = sse_response(
        log,
        "run-1",
        after=0,
        modes=None,
        keepalive_s=5,
        is_active=is_active,
        on_disconnect=None,
        headers={},
    )
    body = await asyncio.wait_for(body_of(response), 5)
    assert body == b"".join(frame(event) for event in events)
