"""Any producer's records are all visible through ``msb broker``: end offsets, lag, plain reads.

tansu alone reports a partition's end as the base offset of its last record batch + 1 when a
producer batched; the front in msb/tansu_proxy.py answers the true end. No environment is set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from msb.broker import EmbeddedBroker, die_with_parent, free_port, tansu_command, wait_for_port
from msb.consume import read_topic
from msb.kafka import ensure_topic, wait_for_kafka

N = 400


def produce_batched(bootstrap: str, topic: str, linger_ms: int, partitions: int = 2) -> Counter[int]:
    """N records from a plain producer with librdkafka's default batching; records per partition."""
    ensure_topic(wait_for_kafka(bootstrap), topic, partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms})
    sent: Counter[int] = Counter()
    for i in range(N):
        producer.produce(topic, value=b"x" * 2000, key=b"%d" % i,
                         on_delivery=lambda err, m: sent.update([m.partition()]) if err is None else None)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert sum(sent.values()) == N
    return sent


def ends(bootstrap: str, topic: str, partitions: int = 2) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "msb-test-ends"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)}
    finally:
        c.close()


def test_no_producer_options_in_the_environment() -> None:
    assert "MSB_PRODUCER_OPTIONS" not in os.environ  # nothing hides the broker's behaviour


@pytest.mark.parametrize("linger_ms", [5, 50])
def test_end_offsets_count_every_batched_record(broker: EmbeddedBroker, topic: str, linger_ms: int) -> None:
    sent = produce_batched(broker.bootstrap, topic, linger_ms)
    assert ends(broker.bootstrap, topic) == dict(sent)
    assert len(list(read_topic(broker.bootstrap, topic, idle_s=2))) == N


def test_tansu_alone_stops_short() -> None:
    """Why the front exists: the same production straight into tansu under-reports its end."""
    port = free_port()
    tansu = subprocess.Popen(tansu_command(port, f"127.0.0.1:{port}"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        wait_for_port(port, proc=tansu)
        bootstrap = f"127.0.0.1:{port}"
        topic = f"raw-{uuid.uuid4().hex[:8]}"
        sent = produce_batched(bootstrap, topic, linger_ms=20)
        assert sum(ends(bootstrap, topic).values()) < sum(sent.values())
    finally:
        tansu.terminate()
        tansu.wait(5)


def test_earliest_and_empty_partitions_pass_through(broker: EmbeddedBroker, topic: str) -> None:
    ensure_topic(wait_for_kafka(broker.bootstrap), topic, 2)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "msb-test-ends"})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 0)
    finally:
        c.close()


def _tansu_of(broker: EmbeddedBroker) -> str:
    children = subprocess.run(["pgrep", "-P", str(broker.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, children  # tansu
    return children[0]


def _gone(pid: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{pid}/stat").read().split()[2] == "Z":  # exited, not yet reaped
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["stop", "kill -9"])
def test_tansu_never_outlives_the_broker(how: str) -> None:
    b = EmbeddedBroker().start()
    tansu = _tansu_of(b)
    if how == "stop":
        b.stop()  # SIGTERM
    else:
        os.kill(b.pid or 0, signal.SIGKILL)
        b.stop()
    assert _gone(tansu)


def test_advertised_address_is_what_clients_are_told(tmp_path: object) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "msb.cli", "broker", "--host", "0.0.0.0", "--port", str(port),
                             "--advertise", f"localhost:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        meta = wait_for_kafka(f"127.0.0.1:{port}").list_topics(timeout=10)
        assert [f"{b.host}:{b.port}" for b in meta.brokers.values()] == [f"localhost:{port}"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
