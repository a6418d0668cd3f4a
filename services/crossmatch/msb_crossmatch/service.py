"""The Kafka service: consume `processed`, classify in batches, produce `classified`, then commit.

Delivery is at-least-once: offsets are committed only after every record of the batch has been
acknowledged by the broker (and written to Parquet, with --out), so a crash replays the batch and
downstream deduplicates on candid. Replicas sharing one consumer group split the partitions.

``distribution``: ``container`` (one-record container files keyed by objectId, what ``msb run``
reads) or ``fink`` (Fink's Livestream convention, msb/livestream.py: the classified record as a
schemaless datum keyed by its schema as JSON, on the partition an objectId key would have had),
which Fink's client (AlertConsumer) reads.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from msb import kafka, livestream
from msb.schemas import classified
from msb_crossmatch.api import ApiServer, State, build_app
from msb_crossmatch.cds import CdsXmatch
from msb_crossmatch.config import CrossmatchConfig
from msb_crossmatch.match import BatchResult, Crossmatcher
from msb_crossmatch.metrics import CrossmatchMetrics
from msb_crossmatch.records import (
    Inputs,
    arrow_schema,
    classified_table,
    input_decoder,
    read_inputs,
    write_parquet,
)

log = logging.getLogger("msb.crossmatch")


@dataclass
class Summary:
    classified: int = 0
    batches: int = 0
    bad_messages: int = 0
    by_class: Counter = field(default_factory=Counter)
    hits: Counter = field(default_factory=Counter)
    candids: set[int] = field(default_factory=set)
    parquet_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    http_port: int | None = None
    stopped_because: str = ""

    def table(self) -> str:
        lines = [f"{'classification':<24} {'alerts':>8}"]
        for cls, n in self.by_class.most_common():
            lines.append(f"{cls:<24} {n:>8}")
        lines.append(f"{'total':<24} {self.classified:>8}")
        return "\n".join(lines)


class DeliveryFailed(RuntimeError):
    """The broker did not acknowledge classified records: offsets are left uncommitted."""


class CrossmatchService:
    def __init__(self, config: CrossmatchConfig, log_fn: Callable[[str], None] | None = None) -> None:
        self.cfg = config
        self.say = log_fn or (lambda m: log.info(m))
        self.metrics = CrossmatchMetrics()
        self.summary = Summary()
        self.stop_event = threading.Event()
        remote = None
        if config.cds_url:
            remote = CdsXmatch(config.cds_url, timeout=config.cds_timeout,
                               on_failure=lambda e: (self.metrics.remote_failures.inc(), self.say(f"CDS xMatch: {e}")))
        self.xm = Crossmatcher.open(config.catalogs, config.only, remote=remote)
        self.metrics.catalogs_loaded(self.xm.catalogs)
        self.schema = classified.with_catalogs(self.xm.names)
        self.table_schema = arrow_schema(self.schema)
        if config.distribution not in livestream.DISTRIBUTIONS:
            raise ValueError(f"distribution {config.distribution!r}: choose {' or '.join(livestream.DISTRIBUTIONS)}")
        self.encoder = classified.encoder(self.schema, config.distribution)
        self.schema_key = livestream.schema_key(self.schema) if config.distribution == "fink" else None
        self.out_partitions = 1
        self.decoder = input_decoder()
        self.api: ApiServer | None = None
        self.state = State()
        self.state.reason = "catalogs open; joining the consumer group"
        self._assigned = False  # partitions assigned at least once (the idle clock starts then)
        self._closing = False  # consumer.close() revokes every partition: keep the last lag on show

    # ------------------------------------------------------------------ lifecycle

    def start_api(self) -> int | None:
        if self.cfg.http_port is None:
            return None
        self.api = ApiServer(build_app(self.xm, self.metrics, self.state, self.cfg.api_limits), self.cfg.http_host,
                             self.cfg.http_port)
        port = self.api.start()
        self.summary.http_port = port
        return port

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def run(self, stop_when: Callable[[Summary], bool] | None = None) -> Summary:
        t0 = time.monotonic()
        admin = kafka.wait_for_kafka(self.cfg.bootstrap)
        topics = admin.list_topics(timeout=10).topics
        parts = len(topics[self.cfg.topic].partitions) if self.cfg.topic in topics else 1
        kafka.ensure_topic(admin, self.cfg.out_topic, max(parts, 1))
        out = admin.list_topics(self.cfg.out_topic, timeout=10).topics.get(self.cfg.out_topic)
        self.out_partitions = len(out.partitions) if out is not None and out.partitions else 1
        consumer = Consumer(kafka.consumer_config(
            self.cfg.bootstrap, self.cfg.group,
            **{"session.timeout.ms": self.cfg.session_timeout_ms,
               "heartbeat.interval.ms": max(self.cfg.session_timeout_ms // 6, 500),
               "enable.partition.eof": False}))
        producer = Producer(kafka.producer_config(self.cfg.bootstrap))
        consumer.subscribe([self.cfg.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        if self.cfg.out:
            Path(self.cfg.out).mkdir(parents=True, exist_ok=True)
        last_input = time.monotonic()
        last_lag = 0.0
        try:
            while not self.stop_event.is_set():
                msgs = consumer.consume(self.cfg.batch_size, timeout=self.cfg.poll_timeout)
                good = [m for m in msgs if m.error() is None]
                for m in msgs:
                    if m.error() is not None:
                        self.say(f"consumer error: {m.error()}")
                if good:
                    self._batch(good, consumer, producer)
                    last_input = time.monotonic()
                now = time.monotonic()
                if now - last_lag >= self.cfg.lag_every_s:
                    self._update_lag(consumer)
                    last_lag = now
                if stop_when is not None and stop_when(self.summary):
                    self.summary.stopped_because = "stop condition met"
                    break
                if (self.cfg.exit_when_idle is not None and self._assigned and not good
                        and now - last_input >= self.cfg.exit_when_idle):
                    self.summary.stopped_because = f"idle for {self.cfg.exit_when_idle:g} s"
                    break
            else:
                self.summary.stopped_because = self.summary.stopped_because or "stopped"
        finally:
            producer.flush(10)
            self._update_lag(consumer)  # the last word on lag, e.g. 0 once the topic is done
            self._closing = True
            consumer.close()
            self.summary.seconds = time.monotonic() - t0
        return self.summary

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self._assigned = True
        self.state.ready = True
        self.state.reason = f"consuming {self.cfg.topic}"
        self.say(f"assigned partitions {sorted(p.partition for p in partitions)} of {self.cfg.topic}")

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        if self._closing:
            return
        for p in partitions:
            try:
                self.metrics.lag.remove(str(p.partition))
            except KeyError:
                pass

    # ------------------------------------------------------------------ one batch

    def _batch(self, msgs: list[Message], consumer: Consumer, producer: Producer) -> None:
        """Decode, match, deliver, write Parquet, then commit: offsets move only once every record
        of the batch is acknowledged (and on disk)."""
        inputs, sent = self._decode(msgs)
        if not inputs.table.num_rows:
            self._commit(msgs, consumer)
            return
        res, table = self._match(inputs, sent)
        self._deliver(table, producer)
        self._write_parquet(table)
        self.metrics.batch_done(res.n, res.hits)
        self._commit(msgs, consumer)
        self._record(inputs, res)

    def _decode(self, msgs: list[Message]) -> tuple[Inputs, np.ndarray]:
        """The batch as columns, and each row's send time (-1: none); undecodable messages are counted
        and skipped."""
        inputs = read_inputs(self.decoder, [m.value() for m in msgs])
        for i, reason in inputs.errors:
            m = msgs[i]
            self.summary.bad_messages += 1
            self.metrics.bad_messages.inc()
            self.say(f"skipping undecodable message {m.topic()}[{m.partition()}]@{m.offset()}: {reason}")
        # The msb_sent_ns header, else the record's field (the stream copies it into processed records).
        headers = np.array([-1 if (h := kafka.sent_ns(msgs[i].headers())) is None else h for i in inputs.rows],
                           dtype=np.int64)
        field = pc.fill_null(inputs.table.column("msb_sent_ns"), -1).to_numpy()
        return inputs, np.where(headers >= 0, headers, field)

    def _match(self, inputs: Inputs, sent: np.ndarray) -> tuple[BatchResult, pa.Table]:
        """Crossmatch and classify: the batch's result and its output records."""
        t0 = time.perf_counter()
        res = self.xm.run(inputs.column("ra"), inputs.column("dec"), inputs.evidence())
        table = classified_table(inputs, res, sent, time.time_ns(), self.table_schema)
        self.metrics.batch.observe(time.perf_counter() - t0)
        return res, table

    def _write_parquet(self, table: pa.Table) -> None:
        if not self.cfg.out:
            return
        path = Path(self.cfg.out) / f"classified-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        write_parquet(table, path)
        self.summary.parquet_files.append(str(path))

    def _commit(self, msgs: list[Message], consumer: Consumer) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            key = (m.topic(), m.partition())
            last[key] = max(last.get(key, -1), m.offset())
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()], asynchronous=False)
        except Exception as exc:  # noqa: BLE001 - a rebalance moved the partition: the new owner redoes it
            self.say(f"commit failed (partitions moved?); the batch will be redelivered: {exc}")

    def _record(self, inputs: Inputs, res: BatchResult) -> None:
        """The committed batch in the summary and the metrics."""
        self.summary.classified += res.n
        self.summary.batches += 1
        self.summary.hits.update(res.hits)
        self.summary.by_class.update(res.classification.tolist())
        if self.cfg.track_candids:
            self.summary.candids.update(inputs.table.column("candid").to_pylist())
        self.metrics.classified.inc(res.n)
        for cls, n in Counter(res.classification.tolist()).items():
            self.metrics.classes.labels(cls).inc(n)

    def _deliver(self, table: pa.Table, producer: Producer) -> None:
        encoded = self.encoder.encode(table)
        keys = [k.encode() for k in table.column("objectId").to_pylist()]
        partitions: list[int | None] = [None] * len(keys)
        if self.schema_key is not None:  # the key is the schema: the partition follows the objectId
            partitions = [livestream.partition_for(k, self.out_partitions) for k in keys]
            keys = [self.schema_key] * len(keys)
        sent = table.column("msb_sent_ns").to_pylist()
        pending = list(range(len(encoded)))
        for _attempt in range(3):
            failed: list[int] = []
            errors: list[str] = []

            def report(err: Any, _msg: Any, i: int, failed: list[int] = failed, errors: list[str] = errors) -> None:
                if err is not None:
                    failed.append(i)
                    errors.append(str(err))
                elif sent[i] is not None:
                    self.metrics.latency.observe(max(time.time_ns() - sent[i], 0) / 1e9)

            for i in pending:
                headers = [(kafka.SEND_TIME_HEADER, str(sent[i]).encode())] if sent[i] is not None else None
                kafka.produce(producer, self.cfg.out_topic, encoded[i], keys[i], headers,
                              lambda e, m, i=i: report(e, m, i), partitions[i])
            remaining = producer.flush(60)
            if remaining:
                raise DeliveryFailed(f"{remaining} classified records still unacknowledged after 60 s")
            if not failed:
                return
            self.say(f"{len(failed)} deliveries failed ({errors[0]}); retrying")
            pending = failed
        raise DeliveryFailed(f"{len(pending)} classified records could not be delivered: {errors[:3]}")

    def _update_lag(self, consumer: Any) -> None:
        try:
            assignment = consumer.assignment()
            if not assignment:
                return
            positions = consumer.position(assignment)
            for tp in positions:
                lo, hi = consumer.get_watermark_offsets(tp, timeout=2, cached=False)
                pos = tp.offset if tp.offset >= 0 else lo
                self.metrics.lag.labels(str(tp.partition)).set(max(hi - pos, 0))
        except Exception as exc:  # noqa: BLE001 - lag is best effort; never stop the service for it
            self.say(f"consumer lag unavailable: {exc}")


def run_service(config: CrossmatchConfig, stop_when: Callable[[Summary], bool] | None = None,
                log_fn: Callable[[str], None] | None = None, stop_event: threading.Event | None = None) -> Summary:
    """Runs the crossmatch service in this thread until stop_when(summary) holds, exit_when_idle passes,
    stop_event is set, or SIGTERM/SIGINT arrives (in the main thread). Returns the summary."""
    svc = CrossmatchService(config, log_fn)
    if stop_event is not None:
        svc.stop_event = stop_event
    restore = _install_signals(svc.stop_event)
    try:
        svc.start_api()
        return svc.run(stop_when)
    finally:
        svc.stop_api()
        restore()


def _install_signals(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(_sig: int, _frame: object) -> None:
        stop.set()

    for s in old:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore
