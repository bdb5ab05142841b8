"""Prometheus metrics: counters in-process, queue depth and circuits read at scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from stagehook.store.context import Store
from stagehook.store.tables import deliveries, endpoints

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


class QueueCollector(Collector):
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
            counts: dict[str, int] = dict(
                conn.execute(
                    select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
                ).all()
            )
            open_count = conn.execute(
                select(func.count()).select_from(endpoints).where(endpoints.c.circuit_open)
            ).scalar()
        for status in ("pending", "retrying", "delivered", "failed"):
            depth.add_metric([status], float(counts.get(status, 0)))
        circuits.add_metric([], float(open_count or 0))
        yield depth
        yield circuits
