"""The stream buffers' metrics, read from this process's event log at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.runs.events import EventLog


class StreamBufferMetrics(Collector):
    """`orca_run_events_unstored` and `orca_run_events_lost_total` of one event log."""

    def __init__(self, events: EventLog) -> None:
        self.events = events

    def collect(self) -> Iterator[Metric]:
        """Yield both families with their current values."""
        yield GaugeMetricFamily(
            "orca_run_events_unstored",
            "Runs API: stream events emitted in this process that the database has not "
            "taken yet (they wait while it is away; each run pauses past "
            "server.runs.events.MAX_UNSTORED).",
            value=self.events.unstored,
        )
        yield CounterMetricFamily(
            "orca_run_events_lost",
            "Runs API: stream events emitted in this process that never reached the "
            "database (their attempt was abandoned after its lease).",
            value=self.events.lost,
        )
