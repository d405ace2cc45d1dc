"""`threads.search(extract=...)`: paths read as langgraph-api reads them, refusals as its."""

from __future__ import annotations

from typing import Any

import pytest

from server.runs.lookup import RunRejected
from server.runs.thread_extract import check_extract, extract_path, extracted

THREAD: dict[str, Any] = {
    "thread_id": "t",
    "status": "idle",
    "metadata": {"user": "ana", "_private": 1},
    "values": {"messages": [{"content": "hi"}, {"content": "echo: hi"}], "n": 0},
    "interrupts": {},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("values.messages[-1].content", "echo: hi"),
        ("values.messages[0]", {"content": "hi"}),
        ("values.n", 0),
        ("metadata.user", "ana"),
        ("metadata", THREAD["metadata"]),
        ("values.messages[5].content", None),  # out of range
        ("values.messages[x]", None),  # not an index
        ("values.n.deeper", None),  # not an object
        ("values.n[0]", None),  # not a list
        ("metadata._private", None),  # no private keys, as the reference
        ("config.configurable", None),  # Orca's threads have no config
        ("status", None),  # not an extractable root
    ],
)
def test_a_path_finds_its_value_or_none(path: str, value: Any) -> None:
    assert extract_path(THREAD, path) == value


def test_extracted_maps_each_alias() -> None:
    wanted = {"last": "values.messages[-1].content", "who": "metadata.user"}
    assert extracted(THREAD, wanted) == {"last": "echo: hi", "who": "ana"}


@pytest.mark.parametrize(
    "extract",
    [
        {"x": "thread_id"},
        {"x": "state.values"},
        {"x": ""},
        {"values": "values.n"},
        {"state_updated_at": "values.n"},
        {"1x": "values.n"},
        {"a b": "values.n"},
        {f"a{n}": "values.n" for n in range(11)},
    ],
)
def test_a_bad_extract_is_refused(extract: dict[str, str]) -> None:
    with pytest.raises(RunRejected):
        check_extract(extract)


def test_a_good_extract_passes() -> None:
    check_extract({f"a{n}": f"values.x[{n}]" for n in range(10)})
    check_extract({"_last": "interrupts", "cfg": "config.configurable.x"})
