"""A Kafka source and sink for Spark on the Python Data Source API (format ``msbkafka``).

Spark's JVM Kafka connector needs jars from Maven; where they are missing this gives the same
rows (key, value, topic, partition, offset, timestamp, timestampType, headers) and takes the
same options, so switching between ``msbkafka`` and the native ``kafka`` format is a rename:

  kafka.bootstrap.servers, subscribe (comma list), startingOffsets (earliest | latest | JSON
  {"topic": {"0": 42}}), maxOffsetsPerTrigger, maxRecordsPerPartition (our split size),
  pollTimeoutMs; the sink takes ``topic`` or a per-row ``topic`` column.

The stream offset is the native format's JSON: ``{"topic": {"partition": next offset}}``. Each
micro-batch reads ``[start, end)`` per partition with assign + seek (no consumer group, so no
rebalance waits), one Spark input partition per Kafka partition, long ranges split.
Spark plans offsets in a separate Python process and pickles readers to executors, so Kafka
clients are created lazily and dropped from the pickled state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceStreamArrowWriter,
    DataSourceStreamReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from msb.kafka import client_config, produce, producer_config

FORMAT = "msbkafka"
SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp, "
    "timestampType int, headers array<struct<key:string,value:binary>>"
)
_HEADERS = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))
ARROW_SCHEMA = pa.schema([
    ("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("timestampType", pa.int32()),
    ("headers", _HEADERS),
])

Offsets = dict[str, dict[str, int]]  # topic -> partition (as text, JSON keys) -> offset


def _lower(options: dict[str, str]) -> dict[str, str]:
    """Spark hands options over case-insensitively (lower-cased); so do we."""
    return {k.lower(): v for k, v in options.items()}


def _client_conf(options: dict[str, str]) -> dict[str, Any]:
    """librdkafka settings from ``kafka.*`` options, msb's environment (SASL etc.) underneath."""
    extra = {k[len("kafka."):]: v for k, v in options.items() if k.startswith("kafka.")}
    return client_config(extra.pop("bootstrap.servers"), **extra)


@dataclass(frozen=True)
class KafkaRange(InputPartition):
    """One Spark task: messages ``[start, end)`` of one topic partition."""

    topic: str
    partition: int
    start: int
    end: int


class MsbKafka(DataSource):
    """``spark.readStream.format("msbkafka")`` / ``df.write.format("msbkafka")``."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: StructType) -> KafkaStreamReader:
        return KafkaStreamReader(dict(self.options))

    def writer(self, schema: StructType, overwrite: bool) -> KafkaWriter:
        return KafkaWriter(dict(self.options))

    def streamWriter(self, schema: StructType, overwrite: bool) -> KafkaStreamWriter:
        return KafkaStreamWriter(dict(self.options))


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]) -> None:
        options = _lower(options)
        if "kafka.bootstrap.servers" not in options or "subscribe" not in options:
            raise ValueError("msbkafka needs options kafka.bootstrap.servers and subscribe")
        self.options = options
        self.topics = [t.strip() for t in options["subscribe"].split(",") if t.strip()]
        self.max_per_trigger = int(options.get("maxoffsetspertrigger", 0)) or None
        self.split = int(options.get("maxrecordsperpartition", 0)) or None
        self.poll_timeout = int(options.get("polltimeoutms", 120_000)) / 1000
        self.target: Offsets | None = None  # Trigger.AvailableNow: never read past this
        self._consumer: Any = None

    # Readers are pickled to the planner process and executors: no live client travels along.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_consumer"] = None
        return state

    def _client(self) -> Any:
        if self._consumer is None:
            conf = _client_conf(self.options)
            conf.update({"group.id": self.options.get("groupidprefix", "msb-stream") + "-planner",
                         "enable.auto.commit": False})
            self._consumer = Consumer(conf)
        return self._consumer

    def _watermarks(self, which: int) -> Offsets:
        """Low (0) or high (1) watermark of every partition of the subscribed topics."""
        consumer = self._client()
        out: Offsets = {}
        for topic in self.topics:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                out[topic] = {}
                continue
            out[topic] = {
                str(p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[which]
                for p in sorted(meta.partitions)
            }
        return out

    def initialOffset(self) -> Offsets:
        spec = self.options.get("startingoffsets", "latest").strip()
        if spec == "earliest":
            return self._watermarks(0)
        if spec == "latest":
            return self._watermarks(1)
        given = json.loads(spec)  # native semantics: -2 earliest, -1 latest
        low, high = self._watermarks(0), self._watermarks(1)
        return {t: {p: (low if given.get(t, {}).get(p, -2) == -2 else high)[t][p]
                    if given.get(t, {}).get(p, -2) < 0 else given[t][p] for p in high[t]} for t in high}

    def prepareForTriggerAvailableNow(self) -> None:
        self.target = self._watermarks(1)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_per_trigger) if self.max_per_trigger else ReadAllAvailable()

    def reportLatestOffset(self) -> Offsets:
        return self._watermarks(1)

    def latestOffset(self, start: Offsets, limit: ReadLimit) -> Offsets:
        latest = self.target if self.target is not None else self._watermarks(1)
        low = self._watermarks(0) if self.target is None else {}
        # A partition that appeared since the last batch starts at its beginning.
        begin = {t: {p: start.get(t, {}).get(p, low.get(t, {}).get(p, 0)) for p in ps} for t, ps in latest.items()}
        end = {t: {p: max(off, begin[t][p]) for p, off in ps.items()} for t, ps in latest.items()}
        if isinstance(limit, ReadMaxRows):
            end = _cap(begin, end, limit.max_rows)
        return end

    def partitions(self, start: Offsets, end: Offsets) -> Sequence[InputPartition]:
        parts: list[InputPartition] = []
        for topic, ps in end.items():
            for p, stop in ps.items():
                begin = start.get(topic, {}).get(p, 0)
                step = self.split or max(stop - begin, 1)
                parts += [KafkaRange(topic, int(p), a, min(a + step, stop)) for a in range(begin, stop, step)]
        return parts

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaRange)
        yield from read_range(self.options, partition, self.poll_timeout)

    def commit(self, end: Offsets) -> None:
        # Progress lives in Spark's checkpoint (exactly the offsets each batch used); nothing to
        # commit to Kafka. Lag is exported by the job's metrics instead of consumer groups.
        pass

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _cap(begin: Offsets, end: Offsets, budget: int) -> Offsets:
    """Limits the batch to ``budget`` messages, shared out in proportion to each partition's lag."""
    lags = {(t, p): end[t][p] - begin[t][p] for t in end for p in end[t]}
    total = sum(lags.values())
    if total <= budget:
        return end
    out = {t: dict(ps) for t, ps in begin.items()}
    given = 0
    for (t, p), lag in sorted(lags.items(), key=lambda kv: -kv[1]):
        share = min(lag, max(1, budget * lag // total)) if lag else 0
        share = min(share, budget - given)
        out[t][p] = begin[t][p] + share
        given += share
    return out


# Consumers kept per Python worker between tasks (keyed by settings): creating one, connecting
# and fetching metadata is a fixed cost per task otherwise. Taken out while in use.
_CONSUMERS: dict[str, Any] = {}


def _reader_conf(options: dict[str, str]) -> dict[str, Any]:
    conf = _client_conf(options)
    conf.update({"group.id": options.get("groupidprefix", "msb-stream") + "-reader", "enable.auto.commit": False,
                 "enable.partition.eof": False, "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 16 << 20})
    return conf


def read_range(options: dict[str, str], rng: KafkaRange, poll_timeout: float = 120.0,
               chunk: int = 256) -> Iterator[pa.RecordBatch]:
    """Messages [start, end) of one partition as Arrow batches (assign + seek, no group)."""
    for msgs in read_messages(options, rng, poll_timeout, chunk):
        yield _to_arrow(msgs)


def read_messages(options: dict[str, str], rng: KafkaRange, poll_timeout: float = 120.0,
                  chunk: int = 256) -> Iterator[list[Any]]:
    """Messages [start, end) of one partition, in lists of up to ``chunk`` confluent-kafka messages."""
    if rng.end <= rng.start:
        return
    conf = _reader_conf(options)
    key = json.dumps(conf, sort_keys=True, default=str)
    consumer = _CONSUMERS.pop(key, None) or Consumer(conf)
    done = False
    try:
        tp = TopicPartition(rng.topic, rng.partition, rng.start)
        consumer.assign([tp])
        nxt, deadline = rng.start, time.monotonic() + poll_timeout
        rows: list[Any] = []
        while nxt < rng.end:
            # Ask only for what is left: consume() otherwise waits out its timeout for the rest.
            msgs = consumer.consume(min(rng.end - nxt, chunk), timeout=1.0)
            for m in msgs:
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                if m.partition() != rng.partition or m.topic() != rng.topic or m.offset() < nxt:
                    continue  # fetched for an earlier task of this reused consumer
                if m.offset() >= rng.end:
                    nxt = rng.end
                    break
                rows.append(m)
                nxt = m.offset() + 1
            if msgs:
                deadline = time.monotonic() + poll_timeout
            elif nxt < rng.end:
                # Offsets may have gaps (compaction, transaction markers): the position says so.
                pos = consumer.position([TopicPartition(rng.topic, rng.partition)])[0].offset
                if pos >= rng.end:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{rng.topic}[{rng.partition}]: offsets {nxt}..{rng.end} not readable "
                                       f"within {poll_timeout:.0f} s (deleted by retention?)")
            if len(rows) >= chunk:
                yield rows
                rows = []
        if rows:
            yield rows
        done = True
    finally:
        if done:  # a clean consumer goes back for the next task; one that failed is closed
            consumer.unassign()
            _CONSUMERS[key] = consumer
        else:
            consumer.close()


def _to_arrow(msgs: list[Any]) -> pa.RecordBatch:
    ts = [m.timestamp() for m in msgs]
    return pa.RecordBatch.from_arrays([
        pa.array([m.key() for m in msgs], pa.binary()),
        pa.array([m.value() for m in msgs], pa.binary()),
        pa.array([m.topic() for m in msgs], pa.string()),
        pa.array([m.partition() for m in msgs], pa.int32()),
        pa.array([m.offset() for m in msgs], pa.int64()),
        pa.array([t[1] * 1000 if t[0] else None for t in ts], pa.timestamp("us", tz="UTC")),
        pa.array([t[0] for t in ts], pa.int32()),
        pa.array([[{"key": k, "value": v} for k, v in (m.headers() or [])] for m in msgs], _HEADERS),
    ], schema=ARROW_SCHEMA)


# ----------------------------------------------------------------------------- sink


@dataclass
class Written(WriterCommitMessage):
    count: int


def produce_batches(options: dict[str, str], batches: Iterator[pa.RecordBatch]) -> int:
    """Produces rows (key, value, optional topic and headers); raises unless every one is acked."""
    extra = {k[len("kafka."):]: v for k, v in options.items() if k.startswith("kafka.")}
    conf = producer_config(extra.pop("bootstrap.servers"), **extra)
    producer = Producer(conf)
    default_topic = options.get("topic")
    errors: list[str] = []
    count = 0

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for batch in batches:
        cols = batch.to_pydict()
        n = batch.num_rows
        # As in Spark's kafka sink, the topic option overrides a topic column.
        topics = [default_topic] * n if default_topic else cols.get("topic") or [None] * n
        keys = cols.get("key") or [None] * n
        headers = cols.get("headers") or [None] * n
        for topic, key, value, hdrs in zip(topics, keys, cols["value"], headers, strict=True):
            if not topic:
                raise ValueError("msbkafka sink: no topic column and no topic option")
            if isinstance(key, str):
                key = key.encode()
            hs = [(h["key"], h["value"]) for h in hdrs] if hdrs else None
            produce(producer, topic, value, key, hs, report)
            producer.poll(0)
            count += 1
    remaining = producer.flush(120)
    if remaining or errors:
        raise KafkaException(f"msbkafka sink: {remaining} undelivered, {len(errors)} failed: {errors[:3]}")
    return count


class KafkaWriter(DataSourceArrowWriter):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = _lower(options)

    def write(self, iterator: Iterator[pa.RecordBatch]) -> Written:
        return Written(produce_batches(self.options, iterator))


class KafkaStreamWriter(DataSourceStreamArrowWriter):
    """At-least-once: a retried batch is produced again."""

    def __init__(self, options: dict[str, str]) -> None:
        self.options = _lower(options)

    def write(self, iterator: Iterator[pa.RecordBatch]) -> Written:
        return Written(produce_batches(self.options, iterator))

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        pass

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        pass
