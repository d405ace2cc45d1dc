"""`/a2a/{assistant_id}` refuses params it cannot use with -32602, and runs nothing for them.

The same servers as `test_a2a_door.py` (SQLite and PostgreSQL, auth off and on), through the
`a2a-sdk` client (A2A 1.0) and raw v0.3 JSON-RPC, whose params the SDK checks less.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from a2a.helpers import get_message_text, new_data_part
from a2a.types.a2a_pb2 import GetTaskRequest, TaskState
from a2a.utils.errors import InvalidParamsError

from server.doors.a2a_params import MAX_VALUE_NESTING
from tests.integration import test_a2a_door
from tests.integration.test_a2a_door import Door, a2a_client, headers, said, sent

door = test_a2a_door.door
"""The served door of `test_a2a_door.py` (its four servers, one at a time)."""


def nested(levels: int) -> Any:
    """Return a JSON object `levels` objects deep."""
    value: Any = "leaf"
    for _ in range(levels):
        value = {"inner": value}
    return value


async def rpc(door: Door, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Post one JSON-RPC request to the `agent` assistant; return the JSON answer.

    A v0.3 method (`message/send`), or a 1.0 one (`SendMessage`, with `A2A-Version: 1.0`).
    """
    request = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    version = {} if "/" in method else {"A2A-Version": "1.0"}
    async with httpx.AsyncClient(headers=headers(door.key) | version, timeout=60) as http:
        answer: dict[str, Any] = (await http.post(f"{door.url}/a2a/agent", json=request)).json()
    return answer


def v03_message(*parts: dict[str, Any], context_id: str | None = None) -> dict[str, Any]:
    """Return a v0.3 user message of `parts`, on `context_id` when given."""
    message = {"role": "user", "messageId": str(uuid.uuid4()), "kind": "message", "parts": parts}
    return message | ({"contextId": context_id} if context_id else {})


async def thread_status(door: Door, thread_id: str) -> int:
    """Return the HTTP status of the thread on the runs API (404: nothing was run on it)."""
    async with httpx.AsyncClient(headers=headers(door.key), timeout=30) as http:
        return (await http.get(f"{door.url}/threads/{thread_id}")).status_code


async def test_a_messages_field_that_is_not_a_list_is_invalid_params(door: Door) -> None:
    context_id = str(uuid.uuid4())
    data = {"kind": "data", "data": {"messages": "notalist"}}
    raw = await rpc(door, "message/send", {"message": v03_message(data, context_id=context_id)})
    async with a2a_client(door.url, door.key) as client:
        with pytest.raises(InvalidParamsError) as refused:
            await sent(client, said("", context_id, new_data_part({"messages": "notalist"})))
    assert raw["error"]["code"] == -32602, raw
    assert "messages" in raw["error"]["message"] and "list" in raw["error"]["message"]
    assert "messages" in str(refused.value)
    assert await thread_status(door, context_id) == 404  # nothing was run


@pytest.mark.parametrize("length", [-1, 2**31, 1099511627776])
async def test_a_history_length_out_of_range_is_invalid_params(door: Door, length: int) -> None:
    async with a2a_client(door.url, door.key) as client:
        task = await sent(client, said("keep me"))
    context_id = str(uuid.uuid4())
    send = {
        "message": v03_message({"kind": "text", "text": "hi"}, context_id=context_id),
        "configuration": {"historyLength": length},
    }
    got = await rpc(door, "tasks/get", {"id": task.id, "historyLength": length})
    sent_raw = await rpc(door, "message/send", send)
    assert got["error"]["code"] == -32602, got
    assert "params.historyLength" in got["error"]["message"]
    assert sent_raw["error"]["code"] == -32602, sent_raw
    assert "params.configuration.historyLength" in sent_raw["error"]["message"]
    assert await thread_status(door, context_id) == 404  # nothing was run


async def test_a_negative_history_length_is_refused_and_a_valid_one_is_kept(door: Door) -> None:
    async with a2a_client(door.url, door.key) as client:
        task = await sent(client, said("count me"))
        with pytest.raises(InvalidParamsError, match="historyLength"):
            await client.get_task(GetTaskRequest(id=task.id, history_length=-1))
        last = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
    assert [get_message_text(m) for m in last.history] == ["Scripted answer: count me"]


async def test_data_nested_deeper_than_protobuf_takes_is_invalid_params(door: Door) -> None:
    # The SDK's own client cannot even build a message this deep (upb's decoder limit).
    deep, flat = {"extra": nested(MAX_VALUE_NESTING)}, {"extra": nested(MAX_VALUE_NESTING - 1)}
    context_id = str(uuid.uuid4())
    text = {"kind": "text", "text": "how deep"}
    v1_message = {
        "role": "ROLE_USER",
        "messageId": str(uuid.uuid4()),
        "contextId": context_id,
        "parts": [{"text": "how deep"}, {"data": deep}],
    }
    raw = {
        name: await rpc(
            door, "message/send", {"message": v03_message(text, {"kind": "data", "data": data})}
        )
        for name, data in [("100 levels", {"extra": nested(99)}), ("33 levels", deep)]
    }
    v1 = await rpc(door, "SendMessage", {"message": v1_message})
    async with a2a_client(door.url, door.key) as client:
        taken = await sent(client, said("flat", "", new_data_part(flat)))
    for answer in [*raw.values(), v1]:
        assert answer["error"]["code"] == -32602, answer
        assert "params.message.parts[1].data nests more than" in answer["error"]["message"]
    assert await thread_status(door, context_id) == 404  # nothing was run
    assert taken.status.state == TaskState.TASK_STATE_COMPLETED
