"""Decoded rows -> Kafka messages + an archive staging file, written by the task that decoded them.

Each micro-batch is then one Spark action: the tasks read, decode, produce the ``processed``,
filter and dead-letter messages (flushed and acknowledged before the task ends) and
write their passed alerts as Parquet into the archive's staging folder. What they hand back to
the driver is one small *outcome* row per task (OUTCOME_DDL): how many messages became what, the
end-to-end latencies and the staged files. The driver moves the staged files into the archive under
the batch id (archive.py) and counts. Without this the batch was decoded in one job, cached, and
written by two more (Kafka sink, Parquet writer), each with its own fixed cost.

A filter's alerts go out in one of two distributions (``OutputSettings.distribution``):

* ``fink`` (the stream's default): Fink's Livestream convention (msb/livestream.py,
  spark/msb_stream/livestream.py), one topic per filter and survey (``fink_<filter>_ztf``...): the alert's own
  datum plus msb's fields, keyed by its schema, on the partition murmur2(objectId) picks (Kafka's
  default partitioner for an objectId key), so one object's alerts stay in order on one partition;
* ``container``: ``<prefix>filter-<name>``, the ``processed`` record (a one-record container), key objectId.
"""

from __future__ import annotations

import base64
import json
import pickle
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from confluent_kafka import KafkaException, Producer

from msb import livestream
from msb.kafka import SEND_TIME_HEADER, produce
from msb.schemas.livestream import LivestreamEncoder
from msb_stream.decode import cached_decoder
from msb_stream.livestream import contract_fields

# One row per task: what its messages became, for the batch's counts, latencies and archive files.
# (Per task, not per message: the driver collects a few rows whatever the batch size.)
OUTCOME_DDL = ("messages int, decoded int, dead int, passed int, fallbacks int, filters map<string,int>, "
               "latencies_s array<double>, archive_files array<string>, topics map<string,int>")
OUTCOME_SCHEMA = pa.schema([
    ("messages", pa.int32()), ("decoded", pa.int32()), ("dead", pa.int32()), ("passed", pa.int32()),
    ("fallbacks", pa.int32()), ("filters", pa.map_(pa.string(), pa.int32())),
    ("latencies_s", pa.list_(pa.float64())), ("archive_files", pa.list_(pa.string())),
    ("topics", pa.map_(pa.string(), pa.int32())),  # messages per filter topic
])
# Columns of the decoded batch that stay out of the archive (night is its partition folder).
NOT_ARCHIVED = ("quality_pass", "error", "raw", "processed", "night", "fallback")


@dataclass
class OutputSettings:
    """Where a task writes; built by the driver (credentials included), pickled to the tasks."""

    producer: dict[str, Any]  # librdkafka settings
    processed: str
    dead_letters: str
    filter_prefix: str  # container distribution: topic of filter f is filter_prefix + f
    staging: str  # the archive's staging folder for this job (archive.Archive.staging)
    distribution: str = "container"  # of the filter topics: container or fink (see the module's doc)
    livestream_format: str = ""  # fink distribution: topic of filter f, survey s (msb.livestream.topic_name)
    schema_dir: str | None = None  # where a Confluent packet's writer schema is found (fink distribution)
    schema_registry: str | None = None


def settings_option(settings: OutputSettings) -> str:
    return base64.b64encode(pickle.dumps(settings)).decode()


def settings_from_option(option: str) -> OutputSettings:
    return pickle.loads(base64.b64decode(option))  # noqa: S301 - written by settings_option above


# One producer per settings per Python worker, reused across tasks and batches (as the decoders).
_PRODUCERS: dict[str, Any] = {}


def _producer(option: str, settings: OutputSettings) -> Any:
    producer = _PRODUCERS.get(option)
    if producer is None:
        producer = _PRODUCERS[option] = Producer(settings.producer)
    return producer


def dead_letter(topic: str, partition: int, offset: int, reason: str, raw: bytes | None) -> tuple[bytes, bytes]:
    """(key, value) of a dead letter: ``topic/partition/offset`` and JSON with the raw bytes."""
    letter: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset, "reason": reason}
    if raw is not None:
        letter["value_base64"] = base64.b64encode(raw).decode()
    key = f"{topic}/{partition}/{offset}".encode()
    return key, json.dumps(letter, separators=(",", ":"), ensure_ascii=False).encode()


class TaskWriter:
    """Writes the decoded batches of one task; yields their outcome rows once all is delivered."""

    def __init__(self, option: str) -> None:
        self.settings = settings_from_option(option)
        self.producer = _producer(option, self.settings)
        self.errors: list[str] = []
        self.archived: list[pa.RecordBatch] = []
        self.counts = {"messages": 0, "decoded": 0, "dead": 0, "passed": 0, "fallbacks": 0}
        self.filters: Counter[str] = Counter()
        self.topics: Counter[str] = Counter()  # messages per filter topic
        self.sent: list[int] = []  # send times (ns) of the alerts that passed
        self.livestream = None
        if self.settings.distribution == "fink":
            self.livestream = LivestreamEncoder(self.settings.schema_dir, self.settings.schema_registry)
        self._partitions: dict[str, int] = {}

    def _report(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def _send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None,
              partition: int | None = None) -> None:
        produce(self.producer, topic, value, key, headers, self._report, partition)

    def _partition_count(self, topic: str) -> int:
        """Partitions of a topic, asked once per task (the job created it before starting)."""
        n = self._partitions.get(topic)
        if n is None:
            meta = self.producer.list_topics(topic, timeout=30).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise KafkaException(f"stream outputs: topic {topic} is unavailable: "
                                     f"{meta.error if meta is not None else 'no metadata'}")
            n = self._partitions[topic] = len(meta.partitions)
        return n

    def add(self, batch: pa.RecordBatch, values: Sequence[bytes] | pa.Array | None = None) -> None:
        """One decoded batch; ``values``: the Kafka messages it was decoded from, row for row (the fink
        distribution republishes each passed alert's own datum)."""
        s = self.settings
        cols = batch.select(["topic", "partition", "offset", "objectId", "quality_pass", "error", "raw", "processed",
                             "filters", "msb_sent_ns"]).to_pydict()
        published: list[int] = []  # rows that passed the cut and at least one filter
        for i, error in enumerate(cols["error"]):
            if error is not None:
                letter = dead_letter(cols["topic"][i], cols["partition"][i], cols["offset"][i], error, cols["raw"][i])
                self._send(s.dead_letters, *letter, None)
            elif cols["quality_pass"][i]:
                key, value, sent = cols["objectId"][i].encode(), cols["processed"][i], cols["msb_sent_ns"][i]
                headers = self._headers(sent)
                self._send(s.processed, key, value, headers)
                if self.livestream is None:
                    for f in cols["filters"][i]:
                        self._send(s.filter_prefix + f, key, value, headers)
                        self.topics[s.filter_prefix + f] += 1
                elif cols["filters"][i]:
                    published.append(i)
                self.filters.update(cols["filters"][i])
                if sent:
                    self.sent.append(sent)
        if published:
            self._livestream(batch, cols, published, values)
        self.producer.poll(0)
        dead = batch.column("error").is_valid()
        passed = pc.fill_null(batch.column("quality_pass"), False)
        c = self.counts
        c["messages"] += batch.num_rows
        c["dead"] += pc.sum(dead).as_py() or 0
        c["decoded"] = c["messages"] - c["dead"]
        c["passed"] += pc.sum(passed).as_py() or 0
        c["fallbacks"] += pc.sum(pc.fill_null(batch.column("fallback"), False)).as_py() or 0
        kept = batch.filter(passed)
        if kept.num_rows:
            self.archived.append(kept)

    @staticmethod
    def _headers(sent: int | None) -> list[tuple[str, bytes]] | None:
        return None if sent is None else [(SEND_TIME_HEADER, str(sent).encode())]

    def _livestream(self, batch: pa.RecordBatch, cols: dict[str, list[Any]], rows: list[int],
                    values: Sequence[bytes] | pa.Array | None) -> None:
        """The rows' alerts on their filters' Livestream topics, each on the partition of its object id."""
        assert self.livestream is not None
        if values is None:
            raise ValueError("the fink distribution needs the Kafka messages the batch was decoded from")
        raw = [values[i].as_py() if isinstance(values, pa.Array | pa.ChunkedArray) else values[i] for i in rows]
        messages = self.livestream.encode(contract_fields(batch.take(pa.array(rows))), raw)
        surveys = batch.column("survey").take(pa.array(rows)).to_pylist()
        fmt = self.settings.livestream_format
        for (key, value), i, survey in zip(messages, rows, surveys, strict=True):
            object_id = cols["objectId"][i].encode()
            headers = self._headers(cols["msb_sent_ns"][i])
            for f in cols["filters"][i]:
                topic = livestream.topic_name(fmt, f, survey)
                partition = livestream.partition_for(object_id, self._partition_count(topic))
                self._send(topic, key, value, headers, partition)
                self.topics[topic] += 1

    def _stage(self) -> dict[str, str]:
        """The passed alerts as one Parquet file per night in staging; night -> file."""
        if not self.archived:
            return {}
        table = pa.Table.from_batches(self.archived)
        files = {}
        for night in pc.unique(table.column("night")).to_pylist():
            part = table.filter(pc.equal(table.column("night"), night)) if night is not None else \
                table.filter(pc.is_null(table.column("night")))
            folder = Path(self.settings.staging) / f"night={night or '__HIVE_DEFAULT_PARTITION__'}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{uuid.uuid4().hex}.parquet"
            pq.write_table(part.drop_columns([c for c in NOT_ARCHIVED if c in part.column_names]), path)
            files[night] = str(path)
        return files

    def finish(self) -> Iterator[pa.RecordBatch]:
        """Flushes (raising unless every message was acknowledged), stages the archive, yields the
        task's outcome row."""
        remaining = self.producer.flush(120)
        if remaining or self.errors:
            raise KafkaException(f"stream outputs: {remaining} undelivered, {len(self.errors)} failed: "
                                 f"{self.errors[:3]}")
        done_ns = time.time_ns()
        files = self._stage()
        outcome = {**self.counts, "filters": dict(self.filters), "archive_files": sorted(files.values()),
                   "latencies_s": [(done_ns - sent) / 1e9 for sent in self.sent], "topics": dict(self.topics)}
        yield pa.RecordBatch.from_pylist([outcome], schema=OUTCOME_SCHEMA)


def write_outputs(option: str, decoded: Iterator[tuple[pa.RecordBatch, Sequence[bytes] | pa.Array | None]]
                  ) -> Iterator[pa.RecordBatch]:
    """Decoded batches of one task, each with the Kafka message values it came from, in; the task's
    outcome row out (after every output is written)."""
    writer = TaskWriter(option)
    for batch, values in decoded:
        writer.add(batch, values)
    yield from writer.finish()


def decode_and_write(decode_option: str, option: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function of the native-kafka path: Kafka rows in, outcome rows out."""
    decoder = cached_decoder(decode_option)

    def decoded() -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        for batch in batches:
            for out in decoder(iter([batch])):  # one decoded batch per Kafka batch, row for row
                yield out, batch.column("value")

    yield from write_outputs(option, decoded())
