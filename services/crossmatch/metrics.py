"""The crossmatch's Prometheus metrics (names fixed: Grafana dashboards are written against them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from msb.metrics import LATENCY_BUCKETS

BATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CrossmatchMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.classified = Counter("msb_crossmatch_alerts_classified_total", "Alerts classified and delivered",
                                  registry=r)
        self.classes = Counter("msb_crossmatch_classifications_total", "Classified alerts by class",
                               ["classification"], registry=r)
        self.matches = Counter("msb_crossmatch_matches_total", "Alerts with a match, by catalog", ["catalog"],
                               registry=r)
        self.hit_rate = Gauge("msb_crossmatch_hit_rate_ratio",
                              "Fraction of the last batch's alerts with a match, by catalog", ["catalog"], registry=r)
        self.batch = Histogram("msb_crossmatch_batch_duration_seconds", "Crossmatch + classification time per batch",
                               buckets=BATCH_BUCKETS, registry=r)
        self.lag = Gauge("msb_crossmatch_consumer_lag_messages", "Messages behind the end of each partition",
                         ["partition"], registry=r)
        self.rows = Gauge("msb_crossmatch_catalog_rows", "Rows of each loaded catalog", ["catalog"], registry=r)
        self.load = Gauge("msb_crossmatch_catalog_load_seconds", "Time to open each catalog", ["catalog"], registry=r)
        self.latency = Histogram("msb_crossmatch_end_to_end_latency_seconds",
                                 "From the msb_sent_ns header (replay send) to classified delivery",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.remote_failures = Counter("msb_crossmatch_remote_failures_total",
                                       "Batches the remote CDS xMatch failed (labelled 'Fail')", registry=r)
        self.bad_messages = Counter("msb_crossmatch_bad_messages_total", "Input messages that could not be decoded",
                                    registry=r)

    def catalogs_loaded(self, catalogs: dict) -> None:
        for name, cat in catalogs.items():
            self.rows.labels(name).set(cat.rows)
            self.load.labels(name).set(cat.load_seconds)

    def batch_done(self, n: int, hits: dict[str, int]) -> None:
        for name, h in hits.items():
            self.matches.labels(name).inc(h)
            self.hit_rate.labels(name).set(h / n if n else 0.0)
