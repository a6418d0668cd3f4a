"""The embedded broker's memory: tansu (0.6.0, memory storage) keeps every record whatever the topic's
retention, so ``msb broker`` and ``msb run`` measure it and warn before it exhausts the machine."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from msb.broker import EmbeddedBroker
from msb.broker_memory import BrokerMemory, measure
from msb.kafka import ensure_topic, produce, producer_config, wait_for_kafka
from msb_app.dashboard import Dashboard
from msb_app.livestats import LiveView

MIB = 1 << 20


def fill(bootstrap: str, topic: str, mib: int) -> None:
    producer = Producer(producer_config(bootstrap))
    for i in range(mib * 10):
        produce(producer, topic, bytes([i % 256]) * (MIB // 10), b"%d" % i)
        producer.poll(0)
    assert producer.flush(60) == 0


def test_tansu_keeps_records_past_their_retention(broker: EmbeddedBroker) -> None:
    """tansu stores retention.ms / retention.bytes (at creation or by IncrementalAlterConfigs) and
    applies neither: the first record is still there, the log start still 0. (When a tansu release
    applies them, this fails: then msb can bound the broker's memory by default.)"""
    admin = wait_for_kafka(broker.bootstrap)
    created, altered = f"ret-{uuid.uuid4().hex[:8]}", f"ret-{uuid.uuid4().hex[:8]}"
    futures = admin.create_topics([NewTopic(created, 1, 1, config={"retention.ms": "1000", "retention.bytes": "1024"}),
                                   NewTopic(altered, 1, 1)])
    for future in futures.values():
        future.result(timeout=30)
    change = ConfigResource(ConfigResource.Type.TOPIC, altered, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([change])[change].result(timeout=30)
    for topic in (created, altered):
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        assert admin.describe_configs([resource])[resource].result(timeout=30)["retention.ms"].value == "1000"
        fill(broker.bootstrap, topic, 4)
    time.sleep(5)  # five times the retention
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "msb-test-retention"})
    try:
        for topic in (created, altered):
            assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 40)
            consumer.assign([TopicPartition(topic, 0, 0)])
            first = None
            deadline = time.monotonic() + 30
            while first is None and time.monotonic() < deadline:
                first = consumer.poll(1.0)
            assert first is not None and first.error() is None and first.offset() == 0
    finally:
        consumer.close()


def test_broker_memory_is_measured(broker: EmbeddedBroker) -> None:
    """tansu's resident memory grows with what it holds; the front's stays small."""
    assert broker.pid is not None
    found = measure(broker.pid)
    assert found is not None
    before, tansu_pid = found
    assert tansu_pid > 0 and before.tansu > 0 and before.front > 0 and before.available > 0
    topic = f"mem-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(broker.bootstrap), topic, 1)
    fill(broker.bootstrap, topic, 64)
    after, _ = measure(broker.pid, tansu_pid) or (before, 0)
    assert after.tansu - before.tansu >= 48 * MIB, after.describe()
    assert 0 < after.share < 1


def test_msb_broker_warns_when_past_its_share(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    with EmbeddedBroker(log=log, options=["--memory-warn", "0.00001"]):
        deadline = time.monotonic() + 60
        while "WARNING: the broker holds" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    text = log.read_text()
    assert "WARNING: the broker holds" in text, text
    line = next(ln for ln in text.splitlines() if "WARNING" in ln)
    assert "(tansu " in line and "front " in line and "applies no retention" in line


def test_dashboard_shows_broker_memory_and_warns() -> None:
    held = BrokerMemory(tansu=600 * MIB, front=40 * MIB, available=1400 * MIB)  # 640 of 2040 MiB: 31%
    quiet, loud = io.StringIO(), io.StringIO()
    for out, warn in ((quiet, 0.5), (loud, 0.3)):
        with Dashboard(out=out, force_plain=True, every=0) as dash:
            dash.update(LiveView(elapsed=1, broker_memory=held, memory_warn=warn))
    assert "broker memory 640 MiB (tansu 600 MiB, front 40 MiB), 31% of the memory it can reach" in quiet.getvalue()
    assert "WARNING" not in quiet.getvalue()
    assert "WARNING: tansu applies no retention" in loud.getvalue()
