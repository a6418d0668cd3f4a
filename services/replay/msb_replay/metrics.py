"""The replay's Prometheus metrics (names fixed: Grafana dashboards and msb run read them)."""

from __future__ import annotations

from msb.metrics import LATENCY_BUCKETS, MetricFactory


class ReplayMetrics:
    def __init__(self) -> None:
        m = MetricFactory("replay")
        self.registry = m.registry
        self.alerts = m.counter("alerts_sent", "Alerts delivered to Kafka", ["topic"])
        self.bytes = m.counter("bytes_sent", "Alert bytes delivered to Kafka", ["topic"])
        self.visits = m.counter("visits_sent", "Visits (bursts) started", ["topic"])
        self.skipped = m.counter("files_skipped", "Files skipped as unreadable or not alerts")
        self.failures = m.counter("delivery_failures", "Alerts Kafka did not accept", ["topic"])
        self.latency = m.histogram("delivery_latency", "Time from produce() to the broker's acknowledgement",
                                   LATENCY_BUCKETS, ["topic"])
