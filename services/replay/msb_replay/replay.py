"""The replay producer: archived alert packets into Kafka, one visit per burst.

Packets stream from disk one at a time; consecutive alerts of the same exposure form a visit,
sent as one burst, with the chosen pace between visits. Only the leading fields of each packet
(key, visit, time) are read, so the producer, not the decoder, sets the pace. Every delivery
report is checked: nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from msb import kafka
from msb.alert import PacketInfo, packet_info
from msb.avro import AlertDecodeError, AlertDecoder, frame_confluent, with_new_ids
from msb.metrics import serve
from msb.progress import Reporter
from msb.sources import Packet, Unreadable, count_packets, iter_packets
from msb.surveys import ADAPTERS, schema_id
from msb_replay.config import ReplayConfig
from msb_replay.metrics import ReplayMetrics
from msb_replay.pacing import sleep_until

log = logging.getLogger("msb.replay")

REPLAY_ID_HEADER = "msb_replay_id"  # "<loop>:<alert id>", what --resume recognises as already delivered
FRESH_ID_STEP = 10**16  # the surveys' alert ids stay far below 2**63 for hundreds of loops


def delivered_ids(bootstrap: str, topic: str) -> set[str]:
    """The replay ids already in ``topic`` (every partition read up to its end offset)."""

    consumer = Consumer(kafka.consumer_config(bootstrap, "msb-replay-resume", **{"enable.partition.eof": True}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return set()
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in meta.partitions}
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in todo])
        seen: set[str] = set()
        deadline = time.monotonic() + 120
        while todo and time.monotonic() < deadline:
            for m in consumer.consume(1000, timeout=1.0):
                if m.error() is None:
                    value = dict(m.headers() or []).get(REPLAY_ID_HEADER)
                    if value:
                        seen.add(value.decode())
                    if m.offset() + 1 >= ends[m.partition()]:
                        todo.discard(m.partition())
        return seen
    finally:
        consumer.close()


class BadPacket(Exception):
    """A file that is not a usable alert; ``--strict`` stops on the first."""


@dataclass
class ReplaySummary:
    alerts: int = 0
    bytes: int = 0
    visits: int = 0
    skipped: int = 0
    failed: int = 0
    queued: int = 0
    delivered_before: int = 0  # not sent again: an earlier run delivered them (--resume)
    loops: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    metrics_port: int | None = None

    @property
    def rate(self) -> float:
        return self.alerts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        mb = self.bytes / 1e6
        secs = max(self.elapsed_s, 1e-9)
        return [
            f"alerts delivered   {self.alerts}",
            f"visits             {self.visits}",
            f"data               {mb:.1f} MB",
            f"elapsed            {self.elapsed_s:.2f} s",
            f"rate               {self.rate:.0f} alerts/s, {mb / secs:.1f} MB/s",
            f"skipped files      {self.skipped}",
            f"failed deliveries  {self.failed}",
        ]


class Replayer:
    def __init__(self, cfg: ReplayConfig, metrics: ReplayMetrics | None = None) -> None:
        self.cfg = cfg
        self.metrics = metrics or ReplayMetrics()
        self.schemas = cfg.schema_store()
        self.decoder = AlertDecoder(self.schemas)
        self.summary = ReplaySummary()
        for counter in (self.metrics.alerts, self.metrics.bytes, self.metrics.visits, self.metrics.failures):
            counter.labels(cfg.topic)  # exported as 0 from the start: a healthy replay shows no failures
        self._producer: Producer | None = None
        self._confluent_ids: dict[str, int] = {}
        self._done: set[str] = set()  # replay ids delivered by an earlier run (--resume)

    # ------------------------------------------------------------------ packets

    def _alerts(self, report: Reporter) -> Iterator[tuple[Packet, PacketInfo]]:
        """Readable packets with their routing info; bad ones are reported and skipped."""
        for item in iter_packets(self.cfg.data):
            if isinstance(item, Unreadable):
                self._bad(item.source, item.reason, report)
                continue
            try:
                info = packet_info(self.decoder, item.data)
            except AlertDecodeError as exc:
                self._bad(item.source, str(exc), report)
                continue
            yield item, info

    def _bad(self, source: str, reason: str, report: Reporter) -> None:
        message = f"skipped {source}: {reason}"
        if self.cfg.strict:
            raise BadPacket(f"{source}: {reason}")
        self.summary.skipped += 1
        self.summary.errors.append(message)
        self.metrics.skipped.inc()
        report.log(message)

    def _payload(self, packet: Packet, info: PacketInfo, loop: int) -> bytes:
        if self.cfg.fresh_ids and loop:
            fresh = info.alert_id + loop * FRESH_ID_STEP
            data = with_new_ids(self.decoder, packet.data, dict.fromkeys(ADAPTERS[info.survey].ID_FIELDS, fresh))
            packet = Packet(packet.source, data)
        if self.cfg.wire_format == "container":
            return packet.data  # byte-identical to the file
        _, datum = self.decoder.writer_schema(packet.data)
        return frame_confluent(self._schema_id(info), datum)

    def _schema_id(self, info: PacketInfo) -> int:
        if self.cfg.schema_id is not None:
            return self.cfg.schema_id
        sid = self._confluent_ids.get(info.schema_name)
        if sid is None:
            sid = self.schemas.id_for(info.schema_name) if self.schemas else None
            if sid is None:
                sid = schema_id(info.schema_name)  # the survey's own registry numbering (Rubin's)
            if sid is None:
                raise BadPacket(f"no Confluent schema id for schema {info.schema_name}: pass --schema-id")
            self._confluent_ids[info.schema_name] = sid
        return sid

    # ------------------------------------------------------------------ kafka

    def _on_delivery(self, err: KafkaError | None, msg: Message, sent: float, size: int) -> None:
        topic = self.cfg.topic
        if err is not None:
            self.summary.failed += 1
            self.metrics.failures.labels(topic).inc()
            if len(self.summary.errors) < 20:
                self.summary.errors.append(f"delivery failed for key {msg.key()!r}: {err.str()}")
            return
        self.summary.alerts += 1
        self.summary.bytes += size
        self.metrics.alerts.labels(topic).inc()
        self.metrics.bytes.labels(topic).inc(size)
        self.metrics.latency.labels(topic).observe(time.monotonic() - sent)

    def _produce(self, value: bytes, key: bytes, replay_id: str) -> None:
        producer = self._producer
        assert producer is not None
        sent = time.monotonic()
        size = len(value)
        headers = [(kafka.SEND_TIME_HEADER, str(time.time_ns()).encode()), (REPLAY_ID_HEADER, replay_id.encode())]

        def report(err: KafkaError | None, msg: Message) -> None:
            self._on_delivery(err, msg, sent, size)

        kafka.produce(producer, self.cfg.topic, value, key, headers, report)
        self.summary.queued += 1
        producer.poll(0)

    # ------------------------------------------------------------------ main loop

    def run(self) -> ReplaySummary:
        cfg = self.cfg
        self.summary.metrics_port = serve(self.metrics.registry, cfg.metrics_port)
        admin = kafka.wait_for_kafka(cfg.bootstrap)
        if kafka.ensure_topic(admin, cfg.topic, cfg.partitions):
            log.info("created topic %s with %d partitions", cfg.topic, cfg.partitions)
        self._producer = Producer(
            kafka.producer_config(cfg.bootstrap, **{"message.timeout.ms": int(cfg.delivery_timeout * 1000)})
        )
        if cfg.resume:
            self._done = delivered_ids(cfg.bootstrap, cfg.topic)
            log.info("resuming: %d alerts already in %s are not sent again", len(self._done), cfg.topic)
        report = Reporter("replay", total=self._expected_total(), enabled=cfg.progress)
        sources = ", ".join(map(str, cfg.data))
        report.log(f"replaying {sources} into {cfg.topic} at {cfg.bootstrap}: {cfg.pace.describe()}")
        start = time.monotonic()
        try:
            self._loops(report)
        finally:
            report.log("waiting for the last delivery reports...")
            remaining = self._producer.flush(cfg.delivery_timeout + 5)
            if remaining:
                self.summary.failed += remaining
                self.summary.errors.append(f"{remaining} alerts still undelivered at exit")
            self.summary.elapsed_s = time.monotonic() - start
            report.close()
        return self.summary

    def _expected_total(self) -> int | None:
        """Alerts the progress bar expects (None: unknown, e.g. archives or --forever)."""
        per_pass = count_packets(self.cfg.data)
        if per_pass is None or self.cfg.loops is None:
            return self.cfg.limit
        total = per_pass * self.cfg.loops
        return min(total, self.cfg.limit) if self.cfg.limit is not None else total

    def _loops(self, report: Reporter) -> None:
        cfg = self.cfg
        loop_iter = itertools.count() if cfg.loops is None else range(cfg.loops)
        for loop in loop_iter:
            sent_before = self.summary.queued
            last_jd = self._one_pass(report, loop)
            self.summary.loops += 1
            if self._limit_reached() or (self.summary.queued == sent_before and not self._done):
                break  # limit hit, or nothing sendable: looping again would spin
            cfg.pace.next_loop(last_jd)

    def _limit_reached(self) -> bool:
        return self.cfg.limit is not None and self.summary.queued >= self.cfg.limit

    def _one_pass(self, report: Reporter, loop: int) -> float | None:
        pace = self.cfg.pace
        visit: str | None = None
        jd: float | None = None
        for packet, info in self._alerts(report):
            if self._limit_reached():
                break
            replay_id = f"{loop}:{info.alert_id}"
            if replay_id in self._done:  # delivered before a restart; its visit is not paced again
                self._done.discard(replay_id)
                self.summary.delivered_before += 1
                continue
            if info.visit != visit:
                visit, jd = info.visit, info.jd
                sleep_until(pace.visit_due(info.jd))
                self.summary.visits += 1
                self.metrics.visits.labels(self.cfg.topic).inc()
            sleep_until(pace.alert_due())
            try:
                payload = self._payload(packet, info, loop)
            except (BadPacket, AlertDecodeError) as exc:
                self._bad(packet.source, str(exc), report)
                continue
            self._produce(payload, info.key, replay_id)
            report.advance(1, note=f"visit {self.summary.visits}  {self.summary.bytes / 1e6:.0f} MB")
        return jd


def run_replay(cfg: ReplayConfig) -> ReplaySummary:
    return Replayer(cfg).run()
