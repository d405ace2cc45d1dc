"""A request's head (request line and headers) must arrive soon, and be of a sane size.

uvicorn limits neither, and no ASGI middleware can: the app is called only once the head is
whole. `HeadDeadlineProtocol` is uvicorn's httptools protocol with the two limits added;
`orca serve` and each of its `--workers` processes serve with it.

- Time. `timeout_keep_alive` covers only the silence after a response, and any byte resets
  it, so a connection that opened and sent nothing, or sent its headers a byte at a time
  (Slowloris), was held for as long as its client liked. Now one deadline,
  `ORCA_HEADER_TIMEOUT_S`, is armed when the connection opens and when a read leaves a
  later request's head incomplete (or brings bytes that begin none), and disarmed once the
  head is whole (the body's own deadline is `ORCA_BODY_TIMEOUT_S`, in `BodyLimits`). Past
  it the connection is closed without an answer, as nginx and Go's `ReadHeaderTimeout` do:
  no request was read that an answer could belong to. A response being written, a stream
  and a WebSocket are never cut: their head was whole before they began.
- Size. httptools sets no limit (h11's is 16 KiB): a 40 MB header was read, held and handed
  to the app, which answered 200. A head over `MAX_HEAD_BYTES` is answered 431 and the
  connection closed: once it is whole, in place of the app; or as soon as the bytes read
  while it is incomplete cross the limit, then followed by a half-close (the client reads
  the answer, and what it still sends is dropped until it closes or the deadline passes,
  instead of a reset that would lose the answer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
"""Longest request line and headers (nginx allows 4 x 8 KiB headers, Node.js 16 KiB)."""


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head that is too slow or too large.

    Cheap on the common path: a head that arrives in one read (every client's, nearly)
    arms no timer and is not measured; a kept-alive connection's requests cost a few
    attribute checks each. The timer is armed when the connection opens, and after a read
    that leaves a head incomplete.
    """

    head_timeout_s: ClassVar[float] = 10.0
    """Set once per process by `use_head_timeout`, before the server accepts connections."""

    _head_deadline: asyncio.TimerHandle | None = None
    _in_head = False
    """A request has begun and its head is not whole yet."""
    _heads_whole = 0
    _head_bytes = 0
    """Bytes of the current head read so far, in reads that held nothing else (the read it
    began in may go uncounted: `on_headers_complete` then measures the whole head)."""
    _may_be_large = False
    """The head now being read may be over the limit: measure it once whole."""
    _refused = False
    """A 431 was sent after an incomplete head grew too large: the rest is dropped."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first request's deadline: a connection must send a head soon."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Parse `data`; time and measure a head it leaves incomplete."""
        if self._refused:
            return
        in_head, heads = self._in_head, self._heads_whole
        if self._head_bytes + len(data) > MAX_HEAD_BYTES:
            self._may_be_large = True
        super().data_received(data)
        if self._in_head:
            self._arm()
            if in_head and heads == self._heads_whole:  # all of `data` was this head's
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse_incomplete_head()
            else:  # it began in `data`, with bytes of no head before it: measure it whole
                self._may_be_large = True
        elif (
            self.cycle is None or self.cycle.response_complete
        ) and self.transport.get_protocol() is self:  # not upgraded to a WebSocket
            self._arm()  # bytes that began no request (blank lines) reset keep-alive's timer

    def on_message_begin(self) -> None:
        """Note that a request's head has begun."""
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        """Stop the deadline; hand the request on, to a 431 when its head is too large."""
        self._in_head = False
        self._heads_whole += 1
        self._head_bytes = 0
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        may_be_large, self._may_be_large = self._may_be_large, False
        if may_be_large and head_size(self.url, self.headers) > MAX_HEAD_BYTES:
            app, self.app = self.app, head_too_large
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        else:
            super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline with the connection."""
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            if not self._refused:
                logger.info(
                    "closed a connection from %s: no whole request head within %.3g s",
                    f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown peer",
                    self.head_timeout_s,
                )
            self.transport.close()

    def _refuse_incomplete_head(self) -> None:
        """Answer 431 and half-close: the client reads it, and its rest is dropped."""
        self._refused = True
        if self.transport.is_closing():
            return
        self.transport.write(HEAD_TOO_LARGE)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the client reads the answer, then closes
        self._arm()  # or it is closed here once the deadline passes


def head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Return the size of a parsed head, near enough (without the method and version)."""
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


HEAD_TOO_LARGE_MESSAGE = f"Request line and headers exceed {MAX_HEAD_BYTES} bytes.".encode()
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
    % (len(HEAD_TOO_LARGE_MESSAGE), HEAD_TOO_LARGE_MESSAGE)
)


async def head_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request whose whole head was too large (in place of the app)."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(HEAD_TOO_LARGE_MESSAGE)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 431, "headers": headers})
    await send({"type": "http.response.body", "body": HEAD_TOO_LARGE_MESSAGE})


def use_head_timeout(seconds: float) -> type[HeadDeadlineProtocol]:
    """Set this process's request-head deadline; return the protocol class for uvicorn."""
    HeadDeadlineProtocol.head_timeout_s = seconds
    return HeadDeadlineProtocol
