"""Make an AG-UI event stream obey the 1.0 stream rules, whatever happens upstream.

- `RUN_STARTED` comes first (with `protocolVersion`); exactly one terminal event comes last.
- Every text message, tool call and step still open at `RUN_FINISHED` is closed first.
- An exception, or a stream that ends without a terminal event, becomes `RUN_ERROR` with a
  message, a code, one line of explanation and no stack trace (that goes to the log).
- Every event carries a millisecond `timestamp`.
- SSE frames are one `data: {json}` line and a blank line, LF only (`@ag-ui/client` cannot
  parse CRLF), and optional fields are omitted, never `null` (its zod schemas reject null).
- During silences a comment frame `: ping` keeps proxies and clients from giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

from ag_ui.core import (
    BaseEvent,
    EventType,
    RunErrorEvent,
    RunStartedEvent,
    StepFinishedEvent,
    TextMessageEndEvent,
    ToolCallEndEvent,
)
from ag_ui.encoder import EventEncoder

from server.guards.runs import RunTimedOut

log = logging.getLogger("orca.agui")

PROTOCOL_VERSION = "1.0"
TERMINAL = {EventType.RUN_FINISHED, EventType.RUN_ERROR}
PING = b": ping\n\n"
MAX_ERROR_CHARS = 300


class RunRules:
    """The open/closed bookkeeping of one run."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.started = False
        self.finished = False
        self.messages: set[str] = set()
        self.outcome = "cancelled"
        """`success`, `interrupted` or `error` once the terminal event is out."""
        self.error_message = ""
        """What `RUN_ERROR` said, when the run ended with one."""
        self.tool_calls: set[str] = set()
        self.steps: list[str] = []

    def admit(self, event: BaseEvent) -> list[BaseEvent]:
        """Return the events to send for `event` (none once the run has ended)."""
        if self.finished:
            log.warning("dropped %s after the run's terminal event", event.type)
            return []
        out: list[BaseEvent] = []
        if not self.started and event.type != EventType.RUN_STARTED:
            out.append(self._started())
        if event.type == EventType.RUN_STARTED:
            if self.started:
                return []
            event = event.model_copy(update={"protocol_version": PROTOCOL_VERSION})
            self.started = True
        elif event.type == EventType.RUN_FINISHED:
            out.extend(self._close_all())
        self._track(event)
        if event.type in TERMINAL:
            self.finished = True
            self.outcome = _outcome(event)
            if event.type == EventType.RUN_ERROR:
                event = self._explained(event)
                self.error_message = str(getattr(event, "message", ""))
        out.append(event)
        return [_stamped(e) for e in out]

    def fail(self, code: str, message: str) -> list[BaseEvent]:
        """Return the events that end the run with an error, if it has not ended."""
        error = RunErrorEvent(type=EventType.RUN_ERROR, message=message, code=code)
        return self.admit(error)

    def _started(self) -> BaseEvent:
        self.started = True
        return self.started_event()

    def started_event(self) -> BaseEvent:
        """Return this run's `RUN_STARTED`."""
        return RunStartedEvent(
            type=EventType.RUN_STARTED,
            thread_id=self.thread_id,
            run_id=self.run_id,
            protocol_version=PROTOCOL_VERSION,
        )

    def _track(self, event: BaseEvent) -> None:
        kind = event.type
        if kind == EventType.TEXT_MESSAGE_START:
            self.messages.add(event.message_id)  # type: ignore[attr-defined]
        elif kind == EventType.TEXT_MESSAGE_END:
            self.messages.discard(event.message_id)  # type: ignore[attr-defined]
        elif kind == EventType.TOOL_CALL_START:
            self.tool_calls.add(event.tool_call_id)  # type: ignore[attr-defined]
        elif kind == EventType.TOOL_CALL_END:
            self.tool_calls.discard(event.tool_call_id)  # type: ignore[attr-defined]
        elif kind == EventType.STEP_STARTED:
            self.steps.append(event.step_name)  # type: ignore[attr-defined]
        elif kind == EventType.STEP_FINISHED and event.step_name in self.steps:  # type: ignore[attr-defined]
            self.steps.remove(event.step_name)  # type: ignore[attr-defined]

    def _close_all(self) -> list[BaseEvent]:
        closing: list[BaseEvent] = [
            TextMessageEndEvent(type=EventType.TEXT_MESSAGE_END, message_id=message_id)
            for message_id in sorted(self.messages)
        ]
        closing += [
            ToolCallEndEvent(type=EventType.TOOL_CALL_END, tool_call_id=call_id)
            for call_id in sorted(self.tool_calls)
        ]
        closing += [
            StepFinishedEvent(type=EventType.STEP_FINISHED, step_name=name)
            for name in reversed(self.steps)
        ]
        self.messages.clear()
        self.tool_calls.clear()
        self.steps.clear()
        return closing

    @staticmethod
    def _explained(event: BaseEvent) -> BaseEvent:
        message = (getattr(event, "message", "") or "the run failed").strip().splitlines()[0]
        return event.model_copy(
            update={
                "message": message[:MAX_ERROR_CHARS],
                "code": getattr(event, "code", None) or "RUN_FAILED",
            }
        )


def _outcome(event: BaseEvent) -> str:
    if event.type == EventType.RUN_ERROR:
        return "error"
    outcome = getattr(event, "outcome", None)
    return "interrupted" if getattr(outcome, "type", None) == "interrupt" else "success"


def _stamped(event: BaseEvent) -> BaseEvent:
    if event.timestamp is None:
        return event.model_copy(update={"timestamp": int(time.time() * 1000)})
    return event


async def ruled(events: AsyncIterator[BaseEvent], rules: RunRules) -> AsyncIterator[BaseEvent]:
    """Apply the run rules to an event stream; failures end it with `RUN_ERROR`.

    `RUN_STARTED` goes out at once, before the adapter reads the thread's checkpoint, so
    a client sees the run begin within milliseconds.
    """
    for admitted in rules.admit(rules.started_event()):
        yield admitted
    try:
        async for event in events:
            for admitted in rules.admit(event):
                yield admitted
    except RunTimedOut as timed_out:  # the run was cancelled at its deadline
        log.warning("AG-UI run %s stopped: %s", rules.run_id, timed_out)
        for admitted in rules.fail("RUN_TIMEOUT", str(timed_out)):
            yield admitted
        return
    except Exception as exc:  # noqa: BLE001 - the stream must end with a terminal event
        log.exception("AG-UI run %s failed", rules.run_id)
        for admitted in rules.fail("RUN_FAILED", f"the run failed: {type(exc).__name__}: {exc}"):
            yield admitted
        return
    if not rules.finished:
        for admitted in rules.fail("INCOMPLETE", "the run ended without finishing"):
            yield admitted


async def sse_frames(
    events: AsyncIterator[BaseEvent], keepalive_s: float
) -> AsyncGenerator[bytes, None]:
    """Encode events as LF-framed SSE, with a `: ping` comment after each silence.

    The events are produced by a task of their own, so waiting for the next one with a
    timeout never cancels the run; closing this iterator (a client that went away) cancels
    that task, and with it the graph.
    """
    encoder = EventEncoder()
    queue: asyncio.Queue[BaseEvent | None] = asyncio.Queue(maxsize=64)

    async def produce() -> None:
        async for event in events:
            await queue.put(event)
        await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while True:
            try:
                async with asyncio.timeout(keepalive_s):  # not wait_for: see RunWorkers
                    event = await queue.get()
            except TimeoutError:
                if producer.done():  # it failed without a sentinel; `ruled` makes that rare
                    break
                yield PING
                continue
            if event is None:
                break
            yield encoder.encode(event).encode()
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
