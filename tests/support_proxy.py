"""A loopback TCP proxy whose open connections a test cuts, as a dropped network would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class CuttingProxy:
    """Forwards bytes both ways; `cut()` aborts every connection open now."""

    url: str = ""
    connections: int = 0
    """Connections accepted so far (a client that reconnects opens a new one)."""
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    def cut(self) -> int:
        """Abort the open connections (an RST, no clean end); return how many."""
        cut = list(self._open)
        for writer in cut:
            writer.transport.abort()
        return len(cut)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()


@asynccontextmanager
async def cutting_proxy(upstream: str) -> AsyncIterator[CuttingProxy]:
    """Serve a proxy to `upstream` (an http://host:port URL) on a free loopback port."""
    target = urlsplit(upstream)
    proxy = CuttingProxy()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy.connections += 1
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        proxy._open.update({writer, up_writer})
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            proxy._open.difference_update({writer, up_writer})
            for end in (writer, up_writer):
                end.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:
        proxy.cut()
        server.close()
        await server.wait_closed()
