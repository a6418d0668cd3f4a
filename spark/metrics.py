"""Prometheus metrics of the stream job (names are what the Grafana dashboards query).

Spark's own numbers (rows/s, batch durations, offsets) come from a StreamingQueryListener;
what only the job knows (quality, filters, dead letters, latency) is counted in foreachBatch.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pyspark.sql.streaming import StreamingQueryListener

from msb.metrics import LATENCY_BUCKETS

BATCH_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300)


class StreamMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.input_rows = Counter("msb_stream_input_rows", "Kafka messages read by the stream job", registry=r)
        self.processed_rows = Counter("msb_stream_processed_rows", "alerts decoded and processed", registry=r)
        self.input_rate = Gauge("msb_stream_input_rows_per_second", "input rate of the last micro-batch",
                                registry=r)
        self.processed_rate = Gauge("msb_stream_processed_rows_per_second",
                                    "processing rate of the last micro-batch", registry=r)
        self.batches = Counter("msb_stream_batches", "micro-batches completed", registry=r)
        self.batch_duration = Histogram("msb_stream_batch_duration_seconds", "micro-batch duration",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.quality_passed = Counter("msb_stream_quality_passed", "alerts that passed the quality cut", registry=r)
        self.filter_alerts = Counter("msb_stream_filter_alerts", "alerts published per user filter", ["filter"],
                                     registry=r)
        self.dead_letters = Counter("msb_stream_dead_letters", "undecodable messages sent to the dead-letter topic",
                                    registry=r)
        self.lag = Gauge("msb_stream_partition_lag_messages", "latest offset minus processed offset",
                         ["topic", "partition"], registry=r)
        self.latency = Histogram("msb_stream_end_to_end_latency_seconds",
                                 "replay send time (msb_sent_ns header) to output written",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.executors = Gauge("msb_stream_executors", "Spark executors alive (1 in local mode)", registry=r)
        self.active = Gauge("msb_stream_query_active", "1 while the streaming query runs (readiness)", registry=r)


def partition_lag(end_offset: str | None, latest_offset: str | None) -> dict[tuple[str, str], int]:
    """(topic, partition) -> latest - end, from a progress report's offset JSON strings."""
    if not end_offset or not latest_offset:
        return {}
    end, latest = json.loads(end_offset), json.loads(latest_offset)
    return {(t, p): max(int(off) - int(end.get(t, {}).get(p, 0)), 0)
            for t, ps in latest.items() if isinstance(ps, dict) for p, off in ps.items()}


class MetricsListener(StreamingQueryListener):
    """Feeds StreamMetrics from Spark's progress events (runs on the driver's listener bus)."""

    def __init__(self, metrics: StreamMetrics, query_name: str) -> None:
        self.metrics = metrics
        self.query_name = query_name
        self.last_batch = -1

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's names
        if event.name == self.query_name:
            self.metrics.active.set(1)

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        p = event.progress
        if p.name != self.query_name:
            return
        m = self.metrics
        m.input_rows.inc(p.numInputRows)
        m.input_rate.set(p.inputRowsPerSecond or 0.0)
        m.processed_rate.set(p.processedRowsPerSecond or 0.0)
        m.batch_duration.observe(p.batchDuration / 1000)
        for src in p.sources:
            for (topic, part), lag in partition_lag(src.endOffset, src.latestOffset).items():
                m.lag.labels(topic, part).set(lag)
        self.last_batch = p.batchId

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        self.metrics.active.set(0)
