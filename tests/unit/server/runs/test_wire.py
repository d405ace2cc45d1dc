"""What readers of a run's stream get: ids, mode filters, Last-Event-ID."""

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from server.runs.records import StoredEvent
from server.runs.wire import frame, last_event_id, parse_modes, wanted


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw})


def test_last_event_id_is_a_seq_or_a_400() -> None:
    assert last_event_id(request_with({})) == 0
    assert last_event_id(request_with({"Last-Event-ID": "17"})) == 17
    with pytest.raises(HTTPException) as refused:
        last_event_id(request_with({"Last-Event-ID": "1700000000-0"}))
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
        ("end", {"values"}, True),
        ("error", {"custom"}, True),
    ],
)
def test_a_reader_gets_its_modes_and_always_metadata_error_and_end(
    event: str, modes: set[str], shown: bool
) -> None:
    assert wanted(StoredEvent(1, event, b"{}"), modes) is shown


def test_frames_carry_the_event_id() -> None:
    assert frame(StoredEvent(7, "values", b'{"a":1}')) == (
        b'event: values\ndata: {"a":1}\nid: 7\n\n'
    )
    assert frame(StoredEvent(8, "end", b"")) == b"event: end\ndata: null\nid: 8\n\n"
