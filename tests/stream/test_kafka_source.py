"""The Python Kafka data source's planning and reading, against the real broker (no Spark needed)."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from msb_stream.kafka_source import KafkaRange, KafkaStreamReader, produce_batches, read_range
from tests.stream.helpers import consume_all, produce


def _reader(broker: Any, topic: str, **opts: str) -> KafkaStreamReader:
    return KafkaStreamReader({"kafka.bootstrap.servers": broker.bootstrap, "subscribe": topic, **opts})


def test_offsets_limits_and_splits(broker: Any) -> None:
    topic = f"src-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [(str(i).encode(), b"v%d" % i) for i in range(90)], partitions=3)
    r = _reader(broker, topic, startingOffsets="earliest", maxOffsetsPerTrigger="30", maxRecordsPerPartition="7")
    start = r.initialOffset()
    assert start == {topic: {"0": 0, "1": 0, "2": 0}}
    assert _reader(broker, topic, startingOffsets="latest").initialOffset()[topic] == r.reportLatestOffset()[topic]
    assert isinstance(r.getDefaultReadLimit(), ReadMaxRows)
    end = r.latestOffset(start, r.getDefaultReadLimit())
    assert 0 < sum(end[topic].values()) <= 30
    full = r.latestOffset(start, ReadAllAvailable())
    assert sum(full[topic].values()) == 90
    parts = r.partitions(start, full)
    assert all(isinstance(p, KafkaRange) and p.end - p.start <= 7 for p in parts)
    clone = pickle.loads(pickle.dumps(r))  # what Spark ships to executors: no live client inside
    assert clone._consumer is None
    rows = [(p.partition, o) for part in parts for b in clone.read(part)
            for p, o in [(part, x) for x in b.column("offset").to_pylist()]]
    assert len(rows) == len(set(rows)) == 90
    # Trigger.AvailableNow: nothing produced after prepare is read.
    r.prepareForTriggerAvailableNow()
    produce(broker.bootstrap, topic, [(b"late", b"late")], partitions=3)
    assert r.latestOffset(full, ReadAllAvailable()) == full
    r.stop()


def test_read_range_is_exact_and_sink_round_trips(broker: Any) -> None:
    topic = f"src-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [(b"k", b"%d" % i) for i in range(20)], partitions=1)
    opts = {"kafka.bootstrap.servers": broker.bootstrap}
    batches = list(read_range(opts, KafkaRange(topic, 0, 5, 12), poll_timeout=10))
    values = [v for b in batches for v in b.column("value").to_pylist()]
    assert values == [b"%d" % i for i in range(5, 12)]
    assert batches[0].column("headers").to_pylist()[0][0]["key"] == "msb_sent_ns"
    out = f"{topic}-out"
    produce(broker.bootstrap, out, [], partitions=1)
    assert produce_batches({**opts, "topic": out}, iter(batches)) == 7
    assert sorted(m.value() for m in consume_all(broker.bootstrap, out)) == sorted(values)
