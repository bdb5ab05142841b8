"""Prometheus metrics: counters in-process, queue depth and circuits read at scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stagehook.store.context import Store
from stagehook.store.outbox.health import count_open_circuits
from stagehook.store.outbox.log import count_by_status

DELIVERIES = Counter(
    "stagehook_deliveries_total",
    "Delivery attempts by outcome (delivered, retrying, failed)",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "stagehook_attempt_duration_seconds",
    "Duration of one HTTP delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
LAG_SECONDS = Histogram(
    "stagehook_event_to_delivery_seconds",
    "Time from an event's creation to its successful delivery",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 1800, 7200, 36000),
)


class OutboxCollector(Collector):
    """Reads the outbox at scrape time, so every process reports the shared truth."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "stagehook_queue_depth", "Deliveries by status", labels=["status"]
        )
        circuits = GaugeMetricFamily(
            "stagehook_open_circuits", "Receiver URLs whose circuit is open (paused)"
        )
        with self.store.db.read() as conn:
            counts = count_by_status(conn)
            open_count = count_open_circuits(conn)
        for status, count in counts.items():
            depth.add_metric([status.value], float(count))
        circuits.add_metric([], float(open_count))
        yield depth
        yield circuits
