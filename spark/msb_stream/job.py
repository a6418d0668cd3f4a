"""The stream job: Kafka -> decode -> quality cut -> filters -> Kafka topics + Parquet archive.

One streaming query, one Spark action per micro-batch: the tasks that read and decode the alerts
write every output themselves (outputs.py) and return one outcome row per message, which
foreachBatch collects to place the archive files and count:

* ``processed``: alerts that passed the quality cut, one-record Avro containers
  (msb/schemas/processed.avsc), key objectId, the replay's ``msb_sent_ns`` header carried through;
* per user filter, the alerts that passed it: with ``distribution="fink"`` (the default) Fink's
  Livestream convention on ``<prefix>fink_<filter>_<survey>`` (the alert's own datum + msb's fields,
  keyed by its schema, partitioned by objectId: msb/livestream.py), with ``"container"`` the
  processed records on ``<prefix>filter-<name>``;
* the dead-letter topic: JSON {topic, partition, offset, reason, value_base64};
* the Parquet archive, partitioned by night, exactly once per batch (archive.py).

Delivery: Kafka outputs are acknowledged before the archive is placed and Spark commits the batch, so
after a crash a batch is replayed: Kafka outputs are at-least-once (deduplicate on candid),
the archive exactly-once.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark

from msb.kafka import client_config, ensure_topic, java_client_config, producer_config, wait_for_kafka
from msb.metrics import serve
from msb_stream import filters as filters_mod
from msb_stream import quality as quality_mod
from msb_stream.archive import Archive
from msb_stream.config import StreamConfig
from msb_stream.decode import DecodeSettings, settings_option
from msb_stream.metrics import MetricsListener, StreamMetrics
from msb_stream.outputs import OUTCOME_DDL, OutputSettings, decode_and_write
from msb_stream.outputs import settings_option as outputs_option
from msb_stream.session import build_session
from msb_stream.summary import StreamSummary, StreamTopics


def native_kafka_available() -> bool:
    """True where Spark's spark-sql-kafka connector jars are installed (the container image)."""
    homes = [os.environ.get("SPARK_HOME", ""), os.path.dirname(pyspark.__file__)]
    return any(glob.glob(os.path.join(h, "jars", "spark-sql-kafka-0-10_*.jar")) for h in homes if h)


def kafka_format(choice: str) -> str:
    if choice == "native" or (choice == "auto" and native_kafka_available()):
        return "kafka"
    if choice in ("python", "auto"):
        return "msbkafka"
    raise ValueError(f"kafka format {choice!r}: choose auto, python or native")


def warm_up(decode: str, outputs: str, batches: Iterator[Any]) -> Iterator[Any]:
    """A Python worker made ready for the stream: its imports done, its decoder built (schemas,
    plans, filters) and its output producer connected, as the stream's tasks will find them."""
    from msb_stream.decode import cached_decoder
    from msb_stream.outputs import TaskWriter

    cached_decoder(decode)
    TaskWriter(outputs)
    yield from batches


def decode_partition(settings: DecodeSettings, outputs: str) -> Any:
    """The mapInArrow function of the native-kafka path (a module-level function: see decode.py)."""
    return functools.partial(decode_and_write, settings_option(settings), outputs)


class StreamJob:
    def __init__(self, config: StreamConfig) -> None:
        config.check()
        self.config = config
        dirs = [Path(d) for d in config.filters_dir] or None
        self.settings = DecodeSettings(
            keep_cutouts=config.keep_cutouts, schema_dir=config.schemas, schema_registry=config.schema_registry,
            quality=quality_mod.conditions(config.quality, config.cut),
            filters=filters_mod.select(config.filters, dirs),
        )
        self.format = kafka_format(config.kafka_format)
        topics = [t for n in self.settings.filters for t in config.filter_topics(n)]
        self.summary = StreamSummary(filters=dict.fromkeys(self.settings.filters, 0),
                                     topic_counts=dict.fromkeys(topics, 0))
        self.latencies: list[float] = []
        self.metrics: Any = None
        self.spark: Any = None

    # ------------------------------------------------------------------ setup

    def ensure_topics(self) -> None:
        admin = wait_for_kafka(self.config.bootstrap)
        meta = admin.list_topics(timeout=10).topics
        first = self.config.topic.split(",")[0]
        parts = len(meta[first].partitions) if first in meta else 1
        for t in [self.config.processed, self.config.dead_letters,
                  *(t for n in self.settings.filters for t in self.config.filter_topics(n))]:
            ensure_topic(admin, t, parts)

    def _kafka_options(self) -> dict[str, str]:
        conf = client_config(self.config.bootstrap)  # SASL etc. from the environment
        if self.format == "kafka":  # Spark's connector runs the Java client: its own key names
            conf = java_client_config(conf)
        return {f"kafka.{k}": str(v) for k, v in conf.items()}

    def source(self, spark: Any) -> Any:
        c = self.config
        fused = self.format == "msbkafka"  # Python source: decode where the bytes are read
        reader = spark.readStream.format("msbalerts" if fused else self.format)
        if fused:
            reader = reader.option("decode", settings_option(self.settings)).option("outputs", self._outputs())
        for k, v in self._kafka_options().items():
            reader = reader.option(k, v)
        reader = reader.option("subscribe", c.topic).option("startingOffsets", c.starting_offsets)
        if c.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(c.max_offsets_per_trigger))
        if self.format == "kafka":
            reader = reader.option("includeHeaders", "true").option("failOnDataLoss", "false")
        elif c.max_records_per_partition:
            reader = reader.option("maxRecordsPerPartition", str(c.max_records_per_partition))
        if fused:
            return reader.load()
        raw = reader.load().select("topic", "partition", "offset", "value", "headers")
        return raw.mapInArrow(decode_partition(self.settings, self._outputs()), OUTCOME_DDL)

    def _outputs(self) -> str:
        """Where the decoding tasks write (outputs.py): producer settings read here, in the driver."""
        c = self.config
        return outputs_option(OutputSettings(
            producer=producer_config(c.bootstrap), processed=c.processed, dead_letters=c.dead_letters,
            filter_prefix=c.filter_topic(""), staging=str(self.archive.staging), distribution=c.distribution,
            livestream_format=c.topic_prefix + c.fink_topics, schema_dir=c.schemas, schema_registry=c.schema_registry))

    # ------------------------------------------------------------------ per batch

    def process_batch(self, df: Any, batch_id: int) -> None:
        """One Spark action: the tasks decode and write; the driver places the archive and counts."""
        if self.archive.committed(batch_id):  # done before a crash, only Spark's commit was lost
            self.summary.skipped_batches += 1
            return
        t0 = time.monotonic()
        tasks = df.collect()  # one outcome row per task (outputs.OUTCOME_DDL), once its outputs are acknowledged
        self.archive.place(sorted(f for t in tasks for f in t["archive_files"]), batch_id)
        self.archive.commit(batch_id)
        messages, dead, passed, fallbacks = (sum(t[k] for t in tasks) for k in ("messages", "dead", "passed",
                                                                                 "fallbacks"))
        filters = {n: sum((t["filters"] or {}).get(n, 0) for t in tasks) for n in self.settings.filters}
        latencies = [x for t in tasks for x in t["latencies_s"]]
        self.summary.add_batch(messages, dead, passed, filters, time.monotonic() - t0, fallbacks)
        for t in tasks:
            for topic, n in (t["topics"] or {}).items():
                self.summary.topic_counts[topic] = self.summary.topic_counts.get(topic, 0) + n
        self._observe(batch_id, messages, dead, passed, filters, latencies, fallbacks)

    def _observe(self, batch_id: int, messages: int, dead: int, passed: int, filters: dict[str, int],
                 lat: list[float], fallbacks: int) -> None:
        self.latencies += lat
        m = self.metrics
        if m is not None:
            m.batch_messages[batch_id] = messages
            m.batches.inc()
            m.processed_rows.inc(messages - dead)
            m.quality_passed.inc(passed)
            m.dead_letters.inc(dead)
            m.decode_fallbacks.inc(fallbacks)
            for n, v in filters.items():
                m.filter_alerts.labels(n).inc(v)
            for x in lat:
                m.latency.observe(x)
            m.executors.set(self._executors())

    def _executors(self) -> int:
        if self.config.master.startswith("local["):
            return 1
        infos = self.spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
        return max(len(infos) - 1, 0)  # the list includes the driver

    # ------------------------------------------------------------------ run

    def run(self) -> StreamSummary:
        c = self.config
        conf = dict(c.spark_conf)  # flags and --conf; spark-defaults.conf (SPARK_CONF_DIR) under them
        self.ensure_topics()
        self.archive = Archive(c.archive, c.checkpoint)
        self.spark = spark = build_session(c.master, c.app_name, conf)
        self.metrics = StreamMetrics()
        port = serve(self.metrics.registry, c.metrics_port)
        self.summary.metrics_port = port
        listener = MetricsListener(self.metrics, c.app_name)
        spark.streams.addListener(listener)
        started = time.monotonic()
        self._warm_up(spark)
        writer = (self.source(spark).writeStream.queryName(c.app_name).foreachBatch(self.process_batch)
                  .option("checkpointLocation", c.checkpoint))
        writer = writer.trigger(availableNow=True) if c.available_now else \
            writer.trigger(processingTime=f"{c.trigger_seconds} seconds")
        query = self.query = writer.start()
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
        finally:
            self._drain_listener(query, listener)
            spark.streams.removeListener(listener)
        sm = self.summary
        sm.seconds = round(time.monotonic() - started, 2)
        sm.latency_p50_s, sm.latency_p99_s = _percentiles(self.latencies)
        sm.topics = StreamTopics(c.processed, c.dead_letters, {n: c.filter_topics(n) for n in self.settings.filters})
        sm.distribution = c.distribution
        sm.archive, sm.kafka_format = str(Path(c.archive).resolve()), self.format
        sm.quality = quality_mod.describe(self.settings.quality)
        return sm

    def _warm_up(self, spark: Any) -> None:
        """Starts the Python workers before the query does, one task per core: their interpreter start,
        imports and decoder set-up (seconds) then delay no micro-batch, and the first one costs what the
        others do. (Workers are reused between tasks, spark.python.worker.reuse.)"""
        t0 = time.monotonic()
        slots = max(spark.sparkContext.defaultParallelism, 1)
        fn = functools.partial(warm_up, settings_option(self.settings), self._outputs())
        spark.range(slots, numPartitions=slots).mapInArrow(fn, "id long").collect()
        self.summary.warm_up_s = round(time.monotonic() - t0, 2)

    def stop(self) -> None:
        """Stops a running query (from another thread); run() then returns its summary."""
        if getattr(self, "query", None) is not None:
            self.query.stop()

    @staticmethod
    def _drain_listener(query: Any, listener: Any, timeout: float = 5.0) -> None:
        """Progress events arrive asynchronously: wait for the last batch's before returning."""
        last = query.lastProgress
        if not last:
            return
        deadline = time.monotonic() + timeout
        while listener.last_batch < last["batchId"] and time.monotonic() < deadline:
            time.sleep(0.05)


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    s = sorted(values)
    return round(s[len(s) // 2], 3), round(s[min(len(s) - 1, int(len(s) * 0.99))], 3)


def run_stream(config: StreamConfig) -> StreamSummary:
    """Runs the job (until the topic is drained with available_now, else until stopped); returns the summary."""
    return StreamJob(config).run()
