"""HTTP shapes of runs: resumable SSE streams and `/wait` bodies that keep proxies awake.

Both answer 200 (a stream at once, a `/wait` within `QUICK_ANSWER_S`) and send their body
as it comes, so an error after that cannot change the status: it becomes the body's last
part instead (an `error` event; a `{"__error__": ...}` result), never a connection closed
mid-body (issue 17: a store read that failed while a `/wait` was following a run cut its
chunked response).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from server.runs.events import END, EventLog
from server.runs.patience import transient, unavailable
from server.runs.records import StoredEvent
from server.runs.serde import dumps

log = logging.getLogger("orca.runs")

T = TypeVar("T")

HEARTBEAT = b": heartbeat\n\n"
"""The keepalive comment langgraph-api sends; SSE parsers skip comment lines."""
ALWAYS = {"metadata", "error"}
FROM_THE_START = "-1"
"""The `Last-Event-ID` that asks for the whole stream (`@langchain/langgraph-sdk`'s
`joinStream(..., {lastEventId: "-1"})`, which `useStream` sends when it re-attaches to a run
after a page reload); Orca's ids start at 1, so it is `after=0`."""


def run_path(thread_id: str, run_id: str) -> str:
    """Return a run's path for `Location` headers, the thread id percent-encoded.

    A thread id is the caller's (AG-UI clients and LangServe callers choose theirs): one
    with `/`, `?` or text outside Latin-1 must still make a valid header and URL.
    """
    return f"/threads/{quote(thread_id, safe='')}/runs/{run_id}"


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Answer JSON encoded the way run payloads are (messages, interrupts, datetimes)."""
    return Response(dumps(content), status_code, headers, media_type="application/json")


MAX_EVENT_ID_DIGITS = 18
"""An event id is a seq below 2^63 (`isdigit` alone let `²` and 5,000 digits reach `int`)."""


def last_event_id(request: Request) -> int:
    """Return the `Last-Event-ID` header as a seq (0 when absent or `-1`); 400 when malformed."""
    raw = request.headers.get("last-event-id", "").strip()
    if not raw or raw == FROM_THE_START:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_EVENT_ID_DIGITS):
        raise HTTPException(
            400,
            f"Last-Event-ID must be an event id sent by this stream (or -1 for all of it), "
            f"got {raw!r}",
        )
    return int(raw)


def parse_modes(raw: list[str] | None) -> set[str] | None:
    """Parse the `stream_mode` query parameters: repeated (the SDK's form) or a JSON array."""
    modes: set[str] = set()
    for item in raw or []:
        if item.startswith("["):
            try:
                modes.update(str(mode) for mode in orjson.loads(item))
            except orjson.JSONDecodeError:
                raise HTTPException(
                    422, "stream_mode must be a mode or a JSON array of modes"
                ) from None
        elif item:
            modes.add(item)
    return modes or None


def wanted(event: StoredEvent, modes: set[str] | None) -> bool:
    """Return whether a reader that asked for `modes` gets this event.

    Never the log's `end`: it tells readers here that the run is over, but langgraph-api
    sends no such event, so clients never see it (the stream just closes, and the SDK asks
    the run's status, which is final by then: the `end` is stored with the outcome).
    """
    if event.event == END:
        return False
    if modes is None or event.event in ALWAYS:
        return True
    mode = event.event.split("|", 1)[0].split("/", 1)[0]
    return mode in modes or (mode == "messages" and "messages-tuple" in modes)


def frame(event: StoredEvent) -> bytes:
    """Encode one event as an SSE frame with its id."""
    data = event.data or b"null"
    return b"event: %s\ndata: %s\nid: %d\n\n" % (event.event.encode(), data, event.seq)


def error_frame(payload: dict[str, str]) -> bytes:
    """Encode an `error` event that is not one of the run's.

    It has no id, so a client that reconnects with its `Last-Event-ID` resumes after the
    last event it really got.
    """
    return b"event: error\ndata: %s\n\n" % dumps(payload)


def _gave_up(error: Exception, run_id: str) -> None:
    if transient(error):
        log.warning("stopped following run %s: the store stayed away (%s)", run_id, error)
    else:
        log.error("following run %s failed", run_id, exc_info=error)


async def with_heartbeats(
    events: AsyncGenerator[T, None], keepalive_s: float
) -> AsyncGenerator[T | None, None]:
    """Yield `events`, and None whenever `keepalive_s` passes without one (send a heartbeat).

    Ends when `events` does, raises what it raises; closing this closes `events`.
    """
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=keepalive_s)
            if not done:
                yield None
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()
        with contextlib.suppress(Exception):
            await events.aclose()


def sse_response(
    log: EventLog,
    run_id: str,
    *,
    after: int,
    modes: set[str] | None,
    keepalive_s: float,
    is_active: Callable[[], Awaitable[bool]],
    on_disconnect: Callable[[], Awaitable[None]] | None,
    headers: dict[str, str],
) -> StreamingResponse:
    """Stream the run's events after `after` (with heartbeats) until its `end` (not sent)."""

    async def body() -> AsyncIterator[bytes]:
        finished = False
        events = log.follow(run_id, after=after, is_active=is_active)
        try:
            async with contextlib.aclosing(with_heartbeats(events, keepalive_s)) as beats:
                async for event in beats:
                    if event is None:
                        yield HEARTBEAT
                    elif wanted(event, modes):
                        yield frame(event)
                    if event is not None and event.event == END:
                        break
            finished = True
        except Exception as error:  # the store stayed away, or a bug: say so
            finished = True  # not the client leaving: `on_disconnect` must not fire
            _gave_up(error, run_id)
            resume = "reconnect to this stream with the Last-Event-ID you have"
            yield error_frame(unavailable(error, resume=resume))
        finally:
            if not finished and on_disconnect is not None:
                after_disconnect(on_disconnect)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **headers},
    )


_AFTER_DISCONNECT: set[asyncio.Task[None]] = set()
"""The `on_disconnect` calls under way (the loop keeps only weak references to tasks)."""


def after_disconnect(call: Callable[[], Awaitable[None]]) -> None:
    """Run `call` (cancel the run) in a task of its own, not in the response's.

    The client left, so Starlette has cancelled the response's cancel scope, and anyio
    cancels every await still made in it, a `finally` block's included: awaited there,
    the cancel's first query was cancelled and the run went on (`on_disconnect=cancel`
    never cancelled anything, and each try threw a pooled connection away).
    """
    task = asyncio.ensure_future(call())
    _AFTER_DISCONNECT.add(task)
    task.add_done_callback(_after_disconnect_done)


def _after_disconnect_done(task: asyncio.Task[None]) -> None:
    _AFTER_DISCONNECT.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("cancelling a run whose client left failed", exc_info=task.exception())


QUICK_ANSWER_S = 0.5
"""How long `/wait` holds its answer back hoping the run ends first: a run done by then is
answered as one plain JSON response (no chunked body, no task streaming it). A client that
goes away meanwhile is noticed (and `on_disconnect` applied) at most this late."""


async def wait_response(
    result: Callable[[], Awaitable[Any]],
    *,
    keepalive_s: float,
    on_disconnect: Callable[[], Awaitable[None]] | None,
    headers: dict[str, str],
) -> Response:
    """Answer with the run's result; until it is ready, a newline every `keepalive_s`.

    Leading whitespace is valid JSON, so clients parse the body as usual while proxies
    see bytes and keep the connection open (what langgraph-api does). A run that ends
    within `QUICK_ANSWER_S` (most do) gets a plain response instead.
    """
    waiter = asyncio.ensure_future(result())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=min(QUICK_ANSWER_S, keepalive_s))
    except asyncio.CancelledError:
        waiter.cancel()
        raise
    if done:
        return Response(_answer(waiter, headers), media_type="application/json", headers=headers)

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=keepalive_s)
                if not done:
                    yield b"\n"
                    continue
                finished = True
                yield _answer(waiter, headers)
                return
        finally:
            if not finished:
                waiter.cancel()
                if on_disconnect is not None:
                    after_disconnect(on_disconnect)

    return StreamingResponse(body(), media_type="application/json", headers=headers)


def _answer(waiter: asyncio.Future[Any], headers: dict[str, str]) -> bytes:
    """Encode a finished wait's result, or say why there is none."""
    try:
        return dumps(waiter.result())
    except Exception as error:  # the store stayed away, or a bug: say so
        _gave_up(error, headers.get("Content-Location", "?"))
        resume = "GET the run's /join for its result"
        return dumps({"__error__": unavailable(error, resume=resume)})
