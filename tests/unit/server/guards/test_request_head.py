"""A request head that does not arrive within the deadline closes its connection.

Real uvicorn, with the protocol `orca serve` uses, on a loopback port, and raw sockets as
the client: an HTTP client library would never send half a head.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.sync.client import connect as connect_websocket

from server.guards.request_head import MAX_HEAD_BYTES, HeadDeadlineProtocol, use_head_timeout

DEADLINE_S = 0.5
GUARD_S = 30.0
"""How long a test waits for what must happen long before (a failure guard only)."""
REQUEST = b"GET / HTTP/1.1\r\nHost: orca.test\r\n\r\n"
SLOW_REQUEST = b"GET /slow HTTP/1.1\r\nHost: orca.test\r\n\r\n"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body and answer `ok`; on `/slow`, only after three deadlines.

    A WebSocket is accepted and each message echoed.
    """
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
        return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/slow":
        await asyncio.sleep(3 * DEADLINE_S)
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Serve `app` with the deadline protocol (keep-alive far longer than the deadline)."""
    monkeypatch.setattr(HeadDeadlineProtocol, "head_timeout_s", HeadDeadlineProtocol.head_timeout_s)
    protocol = use_head_timeout(DEADLINE_S)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=protocol, timeout_keep_alive=60, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        time.sleep(0.05)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=GUARD_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """Return all the server sent until it closed (a timeout fails: it never closed)."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def read_answers(sock: socket.socket, count: int) -> bytes:
    """Return the bytes holding `count` answers of `app` (each ends with its body, `ok`)."""
    received = b""
    while received.count(b"\r\n\r\nok") < count:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


def closed_while_trickling(sock: socket.socket, data: bytes) -> bool:
    """Send `data` a byte at a time until the server closes; False if it never did."""
    sock.settimeout(0.05)
    deadline = time.monotonic() + GUARD_S
    for byte in data:
        if time.monotonic() > deadline:
            return False
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with closing(connect(port)) as sock:
        assert read_until_closed(sock) == b""


def test_a_head_that_stalls_is_closed_without_an_answer(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: orca.test\r\nContent-Le")
        assert read_until_closed(sock) == b""


def test_a_head_trickled_a_byte_at_a_time_is_closed(port: int) -> None:
    endless = b"GET / HTTP/1.1\r\nX-Padding: " + b"a" * 100_000
    with closing(connect(port)) as sock:
        assert closed_while_trickling(sock, endless)


def test_blank_lines_between_requests_do_not_hold_the_connection(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(REQUEST)
        assert read_answers(sock, 1).startswith(b"HTTP/1.1 200")
        assert closed_while_trickling(sock, b"\r\n" * 100_000)


def test_an_answer_slower_than_the_deadline_is_not_cut(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(SLOW_REQUEST)
        assert read_answers(sock, 1).startswith(b"HTTP/1.1 200")


def test_a_kept_alive_connection_may_rest_between_requests(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(REQUEST)
        read_answers(sock, 1)
        time.sleep(3 * DEADLINE_S)  # idle: keep-alive's to judge (60 s here), not the head's
        sock.sendall(REQUEST)
        assert read_answers(sock, 1).startswith(b"HTTP/1.1 200")


def test_a_websocket_outlives_the_deadline(port: int) -> None:
    with connect_websocket(f"ws://127.0.0.1:{port}/ws", open_timeout=GUARD_S) as websocket:
        websocket.send("first")
        assert websocket.recv(timeout=GUARD_S) == "first"
        time.sleep(3 * DEADLINE_S)
        websocket.send("later")
        assert websocket.recv(timeout=GUARD_S) == "later"


def test_a_request_pipelined_behind_a_slow_one_is_answered(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(SLOW_REQUEST + REQUEST)
        assert read_answers(sock, 2).count(b"HTTP/1.1 200") == 2


def head_of(header_bytes: int, headers: int = 1) -> bytes:
    """Return a GET's head whose `headers` X- headers hold `header_bytes` in all."""
    value = b"a" * (header_bytes // headers)
    lines = b"".join(b"X-Pad-%d: %s\r\n" % (number, value) for number in range(headers))
    return b"GET / HTTP/1.1\r\nHost: orca.test\r\n" + lines + b"\r\n"


@pytest.mark.parametrize(
    ("size", "headers"), [(MAX_HEAD_BYTES + 4096, 1), (MAX_HEAD_BYTES + 4096, 40), (8 << 20, 1)]
)
def test_a_head_over_the_size_limit_is_431_and_closed(port: int, size: int, headers: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(head_of(size, headers) + REQUEST)  # the request behind it is not served
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert answer.endswith(f"exceed {MAX_HEAD_BYTES} bytes.".encode())


def test_a_head_whose_first_read_was_large_is_measured_whole(port: int) -> None:
    head = head_of(MAX_HEAD_BYTES + 50_000)
    first = 60_000  # one loopback segment, read before the rest; the rest alone is under
    with closing(connect(port)) as sock:
        sock.sendall(head[:first])
        time.sleep(DEADLINE_S / 5)
        sock.sendall(head[first:])
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_a_head_under_the_size_limit_is_answered(port: int) -> None:
    with closing(connect(port)) as sock:
        sock.sendall(head_of(MAX_HEAD_BYTES - 4096, headers=20))
        assert read_answers(sock, 1).startswith(b"HTTP/1.1 200")


def test_a_large_body_sent_with_its_head_is_not_counted_as_head(port: int) -> None:
    body = b"b" * (4 * MAX_HEAD_BYTES)
    post = b"POST / HTTP/1.1\r\nHost: orca.test\r\nContent-Length: %d\r\n\r\n" % len(body)
    with closing(connect(port)) as sock:
        sock.sendall(post + body + REQUEST)  # and a request pipelined behind it
        assert read_answers(sock, 2).count(b"HTTP/1.1 200") == 2
