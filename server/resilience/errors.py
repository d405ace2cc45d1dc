"""What a guarded call raises when the upstream, not the caller, is the problem."""

from __future__ import annotations


class UpstreamError(Exception):
    """An upstream failed a logical call; `status` is what the client should see."""

    status = 503
    code = "upstream_unavailable"

    def __init__(self, upstream: str, detail: str, *, retry_after: float | None = 5.0) -> None:
        super().__init__(f"{upstream} is unavailable: {detail}")
        self.upstream = upstream
        self.detail = detail
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError, ConnectionError):
    """Down, overloaded or answering 5xx after every attempt: 503."""


class CircuitOpen(UpstreamUnavailable):
    """The upstream's circuit is open: the call was refused without trying it."""

    code = "circuit_open"

    def __init__(self, upstream: str, retry_after: float) -> None:
        super().__init__(
            upstream,
            f"its circuit is open after repeated failures; next try in {retry_after:.0f}s",
            retry_after=retry_after,
        )


class UpstreamTimeout(UpstreamError, TimeoutError):
    """No answer (or no first token) within the time allowed: 504."""

    status = 504
    code = "upstream_timeout"

    def __init__(self, upstream: str, detail: str) -> None:
        super().__init__(upstream, detail, retry_after=5.0)
        self.args = (f"{upstream} did not answer in time: {detail}",)


class StreamBroken(UpstreamError):
    """A stream failed after its first token reached the client: not retried, no fallback.

    Retrying or falling back would repeat text the client already shows, so the run ends
    with an error instead.
    """

    status = 502
    code = "stream_broken"
    partial_output_sent = True
    """Read by the nodes' fallback (`nodes/fallback.py`), which must not answer again."""

    def __init__(self, upstream: str, detail: str) -> None:
        super().__init__(upstream, detail, retry_after=None)
        self.args = (f"{upstream} stopped in the middle of its answer: {detail}",)
