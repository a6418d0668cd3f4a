"""The stream job: Kafka -> decode -> quality cut -> filters -> Kafka topics + Parquet archive.

One streaming query; each micro-batch is read from Kafka and decoded once (mapInArrow over
plain-Python decoding), persisted, and written by foreachBatch to every output:

* ``processed``: alerts that passed the quality cut, one-record Avro containers
  (schemas/processed.avsc), key objectId, the replay's ``msb_sent_ns`` header carried through;
* ``<prefix>filter-<name>``: the same records, per user filter they passed;
* the dead-letter topic: JSON {topic, partition, offset, reason, value_base64};
* the Parquet archive, partitioned by night, exactly once per batch (archive.py).

Delivery: Kafka outputs are written before the archive and before Spark commits the batch, so
after a crash a batch is replayed: Kafka outputs are at-least-once (deduplicate on candid),
the archive exactly-once.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msb.stream import filters as filters_mod
from msb.stream import quality as quality_mod
from msb.stream.decode import DecodeSettings, decode_batches, settings_option, spark_ddl


@dataclass
class StreamConfig:
    """Everything ``msb stream`` takes; ``msb run`` builds one of these and calls run_stream."""

    bootstrap: str
    topic: str  # comma-separated list allowed
    archive: str
    checkpoint: str
    quality: str = "fink"
    cuts: list[str] = field(default_factory=list)  # threshold overrides, e.g. "rb>=0.7"
    available_now: bool = False
    master: str = "local[2]"
    filters: list[str] | None = None  # None: every discovered filter
    filters_dirs: list[str] = field(default_factory=list)
    keep_cutouts: bool = False
    schemas: str | None = None
    schema_registry: str | None = None
    topic_prefix: str = ""
    processed_topic: str | None = None  # default <prefix>processed
    dead_letter_topic: str | None = None  # default <prefix>dead-letters
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    max_records_per_partition: int | None = 5000
    trigger_seconds: float = 1.0
    metrics_port: int | None = 9402
    kafka_format: str = "auto"  # auto | python | native
    app_name: str = "msb-stream"
    spark_conf: dict[str, str] = field(default_factory=dict)

    @property
    def processed(self) -> str:
        return self.processed_topic or f"{self.topic_prefix}processed"

    @property
    def dead_letters(self) -> str:
        return self.dead_letter_topic or f"{self.topic_prefix}dead-letters"

    def filter_topic(self, name: str) -> str:
        return f"{self.topic_prefix}filter-{name}"


def native_kafka_available() -> bool:
    """True where Spark's spark-sql-kafka connector jars are installed (the container image)."""
    import pyspark

    homes = [os.environ.get("SPARK_HOME", ""), os.path.dirname(pyspark.__file__)]
    return any(glob.glob(os.path.join(h, "jars", "spark-sql-kafka-0-10_*.jar")) for h in homes if h)


def kafka_format(choice: str) -> str:
    if choice == "native" or (choice == "auto" and native_kafka_available()):
        return "kafka"
    if choice in ("python", "auto"):
        return "msbkafka"
    raise ValueError(f"kafka format {choice!r}: choose auto, python or native")


def decode_partition(settings: DecodeSettings) -> Any:
    """The mapInArrow function of the native-kafka path (a module-level function: see decode.py)."""
    return functools.partial(decode_batches, settings_option(settings))


class StreamJob:
    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        dirs = [Path(d) for d in config.filters_dirs] or None
        self.settings = DecodeSettings(
            keep_cutouts=config.keep_cutouts, schema_dir=config.schemas, schema_registry=config.schema_registry,
            quality=quality_mod.conditions(config.quality, config.cuts),
            filters=filters_mod.select(config.filters, dirs),
        )
        self.format = kafka_format(config.kafka_format)
        self.totals: dict[str, Any] = {"batches": 0, "input": 0, "decoded": 0, "dead_letters": 0,
                                       "quality_passed": 0, "skipped_batches": 0,
                                       "filters": dict.fromkeys(self.settings.filters, 0)}
        self.latencies: list[float] = []
        self.metrics: Any = None
        self.spark: Any = None

    # ------------------------------------------------------------------ setup

    def ensure_topics(self) -> None:
        from msb.kafka import ensure_topic, wait_for_kafka

        admin = wait_for_kafka(self.config.bootstrap)
        meta = admin.list_topics(timeout=10).topics
        first = self.config.topic.split(",")[0]
        parts = len(meta[first].partitions) if first in meta else 1
        for t in [self.config.processed, self.config.dead_letters,
                  *(self.config.filter_topic(n) for n in self.settings.filters)]:
            ensure_topic(admin, t, parts)

    def _kafka_options(self) -> dict[str, str]:
        from msb.kafka import client_config, java_client_config

        conf = client_config(self.config.bootstrap)  # SASL etc. from the environment
        if self.format == "kafka":  # Spark's connector runs the Java client: its own key names
            conf = java_client_config(conf)
        return {f"kafka.{k}": str(v) for k, v in conf.items()}

    def _sink_options(self) -> dict[str, str]:
        from msb.kafka import parse_options

        opts = self._kafka_options()
        if self.format == "msbkafka":  # the user's producer settings, read here in the driver
            opts.update({f"kafka.{k}": v for k, v in parse_options(os.environ.get("MSB_PRODUCER_OPTIONS")).items()})
        return opts

    def source(self, spark: Any) -> Any:
        c = self.config
        fused = self.format == "msbkafka"  # Python source: decode where the bytes are read
        reader = spark.readStream.format("msbalerts" if fused else self.format)
        if fused:
            reader = reader.option("decode", settings_option(self.settings))
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
        return raw.mapInArrow(decode_partition(self.settings), spark_ddl(c.keep_cutouts))

    # ------------------------------------------------------------------ per batch

    def outputs(self, df: Any) -> Any:
        """One DataFrame (topic, key, value, headers) with every Kafka message of the batch."""
        from pyspark.sql import functions as F

        c = self.config
        header = F.filter(
            F.array(F.struct(F.lit("msb_sent_ns").alias("key"),
                             F.col("msb_sent_ns").cast("string").cast("binary").alias("value"))),
            lambda h: h["value"].isNotNull())
        good = df.where("quality_pass")
        key = F.col("objectId").cast("binary")
        processed = good.select(F.lit(c.processed).alias("topic"), key.alias("key"),
                                F.col("processed").alias("value"), header.alias("headers"))
        per_filter = good.select(F.explode("filters").alias("f"), key.alias("key"), F.col("processed").alias("value"),
                                 header.alias("headers")).select(
            F.concat(F.lit(f"{c.topic_prefix}filter-"), "f").alias("topic"), "key", "value", "headers")
        bad = df.where(F.col("error").isNotNull())
        dead = bad.select(
            F.lit(c.dead_letters).alias("topic"),
            F.concat_ws("/", "topic", "partition", "offset").cast("binary").alias("key"),
            F.to_json(F.struct("topic", "partition", "offset", F.col("error").alias("reason"),
                               F.base64("raw").alias("value_base64"))).cast("binary").alias("value"),
            F.array().cast("array<struct<key:string,value:binary>>").alias("headers"))
        return processed.unionByName(per_filter).unionByName(dead)

    def batch_stats(self, df: Any) -> dict[str, Any]:
        from pyspark.sql import functions as F

        aggs = [F.count(F.lit(1)).alias("input"),
                F.sum(F.col("error").isNotNull().cast("int")).alias("dead"),
                F.sum(F.coalesce(F.col("quality_pass"), F.lit(False)).cast("int")).alias("passed"),
                F.collect_list(F.when(F.col("quality_pass"), F.col("msb_sent_ns"))).alias("sent")]
        aggs += [F.sum(F.array_contains("filters", n).cast("int")).alias(f"f_{i}")
                 for i, n in enumerate(self.settings.filters)]
        row = df.agg(*aggs).collect()[0]
        return {"input": row["input"], "dead": row["dead"] or 0, "passed": row["passed"] or 0, "sent": row["sent"],
                "filters": {n: row[f"f_{i}"] or 0 for i, n in enumerate(self.settings.filters)}}

    def process_batch(self, df: Any, batch_id: int) -> None:
        if self.archive.committed(batch_id):  # done before a crash, only Spark's commit was lost
            self.totals["skipped_batches"] += 1
            return
        t0 = time.monotonic()
        df.persist()
        try:
            stats = self.batch_stats(df)  # reads, decodes and caches the batch
            done_ns = 0

            def to_kafka() -> int:
                out = self.outputs(df).write.mode("append").format(self.format)
                for k, v in self._sink_options().items():
                    out = out.option(k, v)
                out.save()
                return time.time_ns()

            drop = ["quality_pass", "error", "raw", "processed"]
            # Two independent jobs over the cached batch, run together so their fixed costs overlap.
            # The Kafka write stays on this thread: Python data sources are looked up per thread.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="msb-archive") as pool:
                archived = pool.submit(self.archive.write, df.where("quality_pass").drop(*drop), batch_id)
                if stats["input"]:
                    done_ns = to_kafka()
                archived.result()
            self.archive.commit(batch_id)
        finally:
            df.unpersist()
        self._count(stats, done_ns)
        self.totals.setdefault("batch_log", []).append((stats["input"], round(time.monotonic() - t0, 3)))

    def _count(self, s: dict[str, Any], done_ns: int) -> None:
        t = self.totals
        t["batches"] += 1
        t["input"] += s["input"]
        t["decoded"] += s["input"] - s["dead"]
        t["dead_letters"] += s["dead"]
        t["quality_passed"] += s["passed"]
        for n, v in s["filters"].items():
            t["filters"][n] += v
        lat = [(done_ns - ns) / 1e9 for ns in s["sent"] if ns]
        self.latencies += lat
        m = self.metrics
        if m is not None:
            m.batches.inc()
            m.processed_rows.inc(s["input"] - s["dead"])
            m.quality_passed.inc(s["passed"])
            m.dead_letters.inc(s["dead"])
            for n, v in s["filters"].items():
                m.filter_alerts.labels(n).inc(v)
            for x in lat:
                m.latency.observe(x)
            m.executors.set(self._executors())

    def _executors(self) -> int:
        if self.config.master.startswith("local"):
            return 1
        infos = self.spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
        return max(len(infos) - 1, 0)  # the list includes the driver

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        from msb.stream.archive import Archive
        from msb.stream.metrics import MetricsListener, StreamMetrics
        from msb.stream.session import build_session

        from msb.metrics import serve

        c = self.config
        conf = dict(c.spark_conf)
        if c.master.startswith("k8s://"):
            from msb.stream.k8s import K8sSettings

            conf = {**K8sSettings().conf(), **conf}
        self.ensure_topics()
        self.archive = Archive(c.archive, c.checkpoint)
        self.spark = spark = build_session(c.master, c.app_name, conf)
        self.metrics = StreamMetrics()
        port = serve(self.metrics.registry, c.metrics_port)
        self.totals["metrics_port"] = port
        listener = MetricsListener(self.metrics, c.app_name)
        spark.streams.addListener(listener)
        started = time.monotonic()
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
        self.totals["seconds"] = round(time.monotonic() - started, 2)
        self.totals["latency_p50_s"], self.totals["latency_p99_s"] = _percentiles(self.latencies)
        self.totals.update(topics={"processed": c.processed, "dead_letters": c.dead_letters,
                                   "filters": {n: c.filter_topic(n) for n in self.settings.filters}},
                           archive=str(Path(c.archive).resolve()), kafka_format=self.format,
                           quality=quality_mod.describe(self.settings.quality))
        return self.totals

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


def run_stream(config: StreamConfig) -> dict[str, Any]:
    """Runs the job (until the topic is drained with available_now, else until stopped); returns the summary."""
    return StreamJob(config).run()
