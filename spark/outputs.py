"""Decoded rows -> Kafka messages + an archive staging file, written by the task that decoded them.

Each micro-batch is then one Spark action: the tasks read, decode, produce the ``processed``,
``filter-<name>`` and dead-letter messages (flushed and acknowledged before the task ends) and
write their passed alerts as Parquet into the archive's staging folder. What they hand back to
the driver is one small *outcome* row per task (OUTCOME_DDL): how many messages became what, the
end-to-end latencies and the staged files. The driver moves the staged files into the archive under
the batch id (archive.py) and counts. Without this the batch was decoded in one job, cached, and
written by two more (Kafka sink, Parquet writer), each with its own fixed cost.
"""

from __future__ import annotations

import base64
import json
import pickle
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from confluent_kafka import KafkaException, Producer

from msb.kafka import SEND_TIME_HEADER, produce
from msb.stream.decode import decode_batches

# One row per task: what its messages became, for the batch's counts, latencies and archive files.
# (Per task, not per message: the driver collects a few rows whatever the batch size.)
OUTCOME_DDL = ("messages int, decoded int, dead int, passed int, fallbacks int, filters map<string,int>, "
               "latencies_s array<double>, archive_files array<string>")
OUTCOME_SCHEMA = pa.schema([
    ("messages", pa.int32()), ("decoded", pa.int32()), ("dead", pa.int32()), ("passed", pa.int32()),
    ("fallbacks", pa.int32()), ("filters", pa.map_(pa.string(), pa.int32())),
    ("latencies_s", pa.list_(pa.float64())), ("archive_files", pa.list_(pa.string())),
])
# Columns of the decoded batch that stay out of the archive (night is its partition folder).
NOT_ARCHIVED = ("quality_pass", "error", "raw", "processed", "night", "fallback")


@dataclass
class OutputSettings:
    """Where a task writes; built by the driver (credentials included), pickled to the tasks."""

    producer: dict[str, Any]  # librdkafka settings
    processed: str
    dead_letters: str
    filter_prefix: str  # topic of filter f: filter_prefix + f
    staging: str  # the archive's staging folder for this job (archive.Archive.staging)


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
        self.sent: list[int] = []  # send times (ns) of the alerts that passed

    def _report(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def _send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None) -> None:
        produce(self.producer, topic, value, key, headers, self._report)

    def add(self, batch: pa.RecordBatch) -> None:
        s = self.settings
        cols = batch.select(["topic", "partition", "offset", "objectId", "quality_pass", "error", "raw", "processed",
                             "filters", "msb_sent_ns"]).to_pydict()
        for i, error in enumerate(cols["error"]):
            if error is not None:
                letter = dead_letter(cols["topic"][i], cols["partition"][i], cols["offset"][i], error, cols["raw"][i])
                self._send(s.dead_letters, *letter, None)
            elif cols["quality_pass"][i]:
                key, value, sent = cols["objectId"][i].encode(), cols["processed"][i], cols["msb_sent_ns"][i]
                headers = None if sent is None else [(SEND_TIME_HEADER, str(sent).encode())]
                self._send(s.processed, key, value, headers)
                for f in cols["filters"][i]:
                    self._send(s.filter_prefix + f, key, value, headers)
                self.filters.update(cols["filters"][i])
                if sent:
                    self.sent.append(sent)
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
                   "latencies_s": [(done_ns - sent) / 1e9 for sent in self.sent]}
        yield pa.RecordBatch.from_pylist([outcome], schema=OUTCOME_SCHEMA)


def write_outputs(option: str, decoded: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Decoded batches of one task in, its outcome row out (after every output is written)."""
    writer = TaskWriter(option)
    for batch in decoded:
        writer.add(batch)
    yield from writer.finish()


def decode_and_write(decode_option: str, option: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function of the native-kafka path: Kafka rows in, outcome rows out."""
    yield from write_outputs(option, decode_batches(decode_option, batches))
