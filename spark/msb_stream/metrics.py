"""Prometheus metrics of the stream job (names are what the Grafana dashboards query).

Spark's own numbers (rows/s, batch durations, offsets) come from a StreamingQueryListener;
what only the job knows (quality, filters, dead letters, latency) is counted in foreachBatch.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener

from msb.metrics import LATENCY_BUCKETS, MetricFactory

BATCH_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300)


class StreamMetrics:
    def __init__(self) -> None:
        m = MetricFactory("stream")
        self.registry = m.registry
        self.input_rows = m.counter("input", "Kafka messages read by the stream job", unit="rows")
        self.processed_rows = m.counter("processed", "alerts decoded and processed", unit="rows")
        self.input_rate = m.gauge("input", "input rate of the last micro-batch", unit="rows_per_second")
        self.processed_rate = m.gauge("processed", "processing rate of the last micro-batch", unit="rows_per_second")
        self.batches = m.counter("batches", "micro-batches completed")
        self.batch_duration = m.histogram("batch_duration", "micro-batch duration", BATCH_BUCKETS)
        self.quality_passed = m.counter("quality_passed", "alerts that passed the quality cut")
        self.filter_alerts = m.counter("filter_alerts", "alerts published per user filter", ["filter"])
        self.dead_letters = m.counter("dead_letters", "undecodable messages sent to the dead-letter topic")
        self.decode_fallbacks = m.counter("decode_fallbacks", "alerts decoded by fastavro because the compiled "
                                          "plan could not apply (codec, several records, schema feature)")
        self.lag = m.gauge("partition_lag", "latest offset minus processed offset", ["topic", "partition"],
                           unit="messages")
        self.latency = m.histogram("end_to_end_latency", "replay send time (msb_sent_ns header) to output written",
                                   LATENCY_BUCKETS)
        self.executors = m.gauge("executors", "Spark executors alive (1 in local mode)")
        self.active = m.gauge("query_active", "1 while the streaming query runs (readiness)")
        # Kafka messages per batch id, counted by the job: Spark's numInputRows counts the source's
        # rows, which are one outcome row per task with the fused source.
        self.batch_messages: dict[int, int] = {}


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
        messages = m.batch_messages.pop(p.batchId, 0)
        scale = messages / p.numInputRows if p.numInputRows else 0.0  # Spark's rates, in messages
        m.input_rows.inc(messages)
        m.input_rate.set((p.inputRowsPerSecond or 0.0) * scale)
        m.processed_rate.set((p.processedRowsPerSecond or 0.0) * scale)
        m.batch_duration.observe(p.batchDuration / 1000)
        for src in p.sources:
            for (topic, part), lag in partition_lag(src.endOffset, src.latestOffset).items():
                m.lag.labels(topic, part).set(lag)
        self.last_batch = p.batchId

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        self.metrics.active.set(0)
