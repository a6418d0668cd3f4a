"""The crossmatch's Prometheus metrics (names fixed: Grafana dashboards are written against them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from msb.metrics import LATENCY_BUCKETS, MetricFactory

BATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CrossmatchMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        m = MetricFactory("crossmatch", registry)
        self.registry = m.registry
        self.classified = m.counter("alerts_classified", "Alerts classified and delivered")
        self.classes = m.counter("classifications", "Classified alerts by class", ["classification"])
        self.matches = m.counter("matches", "Alerts with a match, by catalog", ["catalog"])
        self.hit_rate = m.gauge("hit_rate", "Fraction of the last batch's alerts with a match, by catalog",
                                ["catalog"], unit="ratio")
        self.batch = m.histogram("batch_duration", "Crossmatch + classification time per batch", BATCH_BUCKETS)
        self.lag = m.gauge("consumer_lag", "Messages behind the end of each partition", ["partition"],
                           unit="messages")
        self.rows = m.gauge("catalog", "Rows of each loaded catalog", ["catalog"], unit="rows")
        self.load = m.gauge("catalog_load", "Time to open each catalog", ["catalog"], unit="seconds")
        self.latency = m.histogram("end_to_end_latency",
                                   "From the msb_sent_ns header (replay send) to classified delivery", LATENCY_BUCKETS)
        self.remote_failures = m.counter("remote_failures", "Batches the remote CDS xMatch failed (labelled 'Fail')")
        self.bad_messages = m.counter("bad_messages", "Input messages that could not be decoded")
        self.api_refused = m.counter("api_refused", "HTTP API requests refused, by reason (bad_request, "
                                     "body_too_large, too_many_positions, too_much_work, response_too_large, busy, "
                                     "timeout)", ["reason"])

    def catalogs_loaded(self, catalogs: dict) -> None:
        for name, cat in catalogs.items():
            self.rows.labels(name).set(cat.rows)
            self.load.labels(name).set(cat.load_seconds)

    def batch_done(self, n: int, hits: dict[str, int]) -> None:
        for name, h in hits.items():
            self.matches.labels(name).inc(h)
            self.hit_rate.labels(name).set(h / n if n else 0.0)
