"""Any producer's records are all visible through ``msb broker``: end and start offsets, lag, plain reads.

tansu alone reports a partition's end as the base offset of its last record batch + 1 when a
producer batched, and may report its start past the first batch when producers' first batches to a
new partition arrive at once; the front in msb/tansu_proxy.py answers the true end and start. No
environment is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from msb import kafka_wire as wire
from msb.broker import EmbeddedBroker, die_with_parent, free_port, tansu_command, wait_for_port
from msb.consume import read_topic
from msb.kafka import ensure_topic, wait_for_kafka
from tests.broker.raw import offsets

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


# The race behind a late start: several producers' first batches to one new partition at once. About
# one new partition in a hundred ends up with a start past 0 on a quiet machine (measured: 3 in 300,
# 4 to 8 producers through the front); far fewer when the CPUs are busy, so the broker and the
# producers run at a raised priority while they race.
RACERS = 8
TOPICS_PER_ROUND = 25
RACE_WITHIN_S = 240


def _raise_priority(pids: list[int]) -> None:
    """Every thread of ``pids`` and threads this one starts from now on at nice -10 (root only:
    elsewhere the race is only slower to provoke)."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # Linux: this thread, inherited by the threads it starts
        for pid in pids:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(ProcessLookupError):
                    os.setpriority(os.PRIO_PROCESS, int(tid), -10)


def first_batches_at_once(topic: str, producers: list[Producer]) -> None:
    """Partition 0 of ``topic`` (new, known to every producer) gets each producer's first batch
    (3 records) at the same moment."""
    barrier = threading.Barrier(len(producers))
    failed: list[int] = []

    def send(p: Producer) -> None:
        barrier.wait(30)
        for _ in range(3):
            p.produce(topic, value=b"x" * 100, partition=0)
        failed.append(p.flush(30))

    threads = [threading.Thread(target=send, args=(p,)) for p in producers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(failed), f"{topic}: undelivered records"


def late_start(broker: EmbeddedBroker, tansu: str) -> tuple[list[str], str, int]:
    """The new topics raced through the broker until tansu (at ``tansu``, host:port, asked directly)
    reported one's start past 0; that topic and that start. Fails if there is none within
    RACE_WITHIN_S: the test built on it would prove nothing."""
    admin = wait_for_kafka(broker.bootstrap)
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    _raise_priority([broker.pid or 0, int(_tansu_of(broker))])
    try:
        producers = [Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0}) for _ in range(RACERS)]
        deadline, tried = time.monotonic() + RACE_WITHIN_S, []
        while time.monotonic() < deadline:
            topics = [f"race-{uuid.uuid4().hex[:10]}" for _ in range(TOPICS_PER_ROUND)]
            for done in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
                done.result()
            for p in producers:
                p.list_topics(timeout=10)  # connected, knowing every leader: nothing delays a send
            for topic in topics:
                first_batches_at_once(topic, producers)
                tried.append(topic)
                start = offsets(tansu, topic, [0], wire.EARLIEST)[0]
                if start > 0:
                    return tried, topic, start
        pytest.fail(f"tansu reported no partition start past 0 in {len(tried)} new partitions ({RACE_WITHIN_S} s)")
    finally:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


def test_start_offsets_are_the_first_batch(tmp_path: Path) -> None:
    """tansu may report a new partition's start past its first batch (records that are stored and
    readable from 0); through the front the start is 0 in every encoding, and a reader from the
    earliest offset (librdkafka's OFFSET_BEGINNING, ``msb consume``) gets every record. Every raced
    partition's end is its true end too (tansu's own can stay behind later batches there)."""
    log = tmp_path / "broker.log"
    with EmbeddedBroker(log=log) as b:
        tansu = "127.0.0.1:" + re.search(r"listening on: tcp://127\.0\.0\.1:(\d+)", log.read_text())[1]
        tried, topic, start = late_start(b, tansu)
        assert offsets(tansu, topic, [0], wire.EARLIEST)[0] == start > 0  # tansu still says so
        for t in tried:
            assert offsets(b.bootstrap, t, [0], wire.LATEST) == {0: 3 * RACERS}, t
            assert offsets(b.bootstrap, t, [0], wire.EARLIEST) == {0: 0}, t
        for version in (1, 4, 7):
            assert offsets(b.bootstrap, topic, [0], wire.EARLIEST, version) == {0: 0}
            assert offsets(b.bootstrap, topic, [0], wire.LATEST, version) == {0: 3 * RACERS}
        read = [r.message.offset() for r in read_topic(b.bootstrap, topic, idle_s=2)]
        assert read == list(range(3 * RACERS))


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
