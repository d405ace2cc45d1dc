"""A request's head (request line and headers) must arrive soon, and be of a sane size.

uvicorn limits neither, and no ASGI middleware can: the app is called only once the head is
whole. `HeadDeadlineProtocol` is uvicorn's httptools protocol with the two limits added;
`orca serve` and each of its `--workers` processes serve with it.

- Time. `timeout_keep_alive` covers only the silence after a response, and any byte resets
  it, so a connection that opened and sent nothing, or sent its headers a byte at a time
  (Slowloris), was held for as long as its client liked. Now one deadline,
  `ORCA_HEADER_TIMEOUT_S`, is armed when the connection opens and when the first bytes of
  each later request arrive, and disarmed once the head is whole (the body's own deadline
  is `ORCA_BODY_TIMEOUT_S`, in `BodyLimits`). Past it the connection is closed without an
  answer, as nginx and Go's `ReadHeaderTimeout` do: no request was read that an answer
  could belong to. A response being written, a stream and a WebSocket are never cut: their
  head was whole before they began.
- Size. httptools sets no limit (h11's is 16 KiB): a 40 MB header was read, held and handed
  to the app, which answered 200. A head over `MAX_HEAD_BYTES` is answered 431, as soon as
  the bytes read while it is incomplete cross the limit, or once it is whole. The answer is
  followed by a half-close: the client reads it, and what it still sends is dropped until
  it closes (or the deadline passes), instead of a reset that would lose the answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
"""Longest request line and headers (nginx allows 4 x 8 KiB headers, Node.js 16 KiB)."""


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head that is too slow or too large."""

    head_timeout_s: ClassVar[float] = 10.0
    """Set once per process by `use_head_timeout`, before the server accepts connections."""

    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    """Bytes of the current request's head read so far. A read that also held the end of the
    previous request is not counted; the whole head is measured again once it is parsed."""
    _refused = False
    """A 431 was sent: the rest of what the client sends is dropped."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first request's deadline: a connection must send a head soon."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Parse `data`; refuse the head once more of it than `MAX_HEAD_BYTES` was read."""
        if self._refused:
            return
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # the next request begins; between requests only keep-alive counts
        head = self._head_deadline
        super().data_received(data)
        if head is not None and head is self._head_deadline:  # all of `data` was that head's
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_large_head()

    def on_message_begin(self) -> None:
        """Start a request; its head's deadline runs from here if not already."""
        super().on_message_begin()
        self._arm()  # a request pipelined behind one still being answered

    def on_headers_complete(self) -> None:
        """Stop the deadline; hand the request to uvicorn unless its head is too large."""
        if self._refused:
            return  # a request read in the same chunk as the refused one
        self._disarm()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._refuse_large_head()  # before uvicorn starts the app on it
        else:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Pass a body chunk on, unless the request was refused."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """End the request, unless it was refused."""
        if not self._refused:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        self._head_bytes = 0

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

    def _refuse_large_head(self) -> None:
        self._disarm()
        self._refused = True
        if self.transport.is_closing():
            return
        message = f"Request line and headers exceed {MAX_HEAD_BYTES} bytes.".encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(message), message)
        )
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the client reads the answer, then closes
        self._arm()  # or it is closed here once the deadline passes


def use_head_timeout(seconds: float) -> type[HeadDeadlineProtocol]:
    """Set this process's request-head deadline; return the protocol class for uvicorn."""
    HeadDeadlineProtocol.head_timeout_s = seconds
    return HeadDeadlineProtocol
