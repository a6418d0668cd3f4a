"""A client cannot exhaust ``msb broker``'s front: oversized, negative, slow and idle requests and too
many connections are dropped, memory stays bounded, and good clients (large produce requests, 64 MiB
fetches, consumer groups) still pass through the same broker.

The limits are set short here (``msb broker --request-timeout 2 --idle-timeout 4``) so the tests
see them act; the front runs in the ``msb broker`` process, whose memory is what is measured.
"""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from msb import kafka_wire as wire
from msb.broker import EmbeddedBroker
from msb.kafka import consumer_config, ensure_topic, produce, producer_config, wait_for_kafka

REQUEST_TIMEOUT_S = 2.0
IDLE_TIMEOUT_S = 4.0
MIB = 1 << 20


def status_kib(pid: int, field: str) -> int:
    """A /proc/PID/status figure in KiB: VmRSS (resident now), VmHWM (the peak so far)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def closed_after(sock: socket.socket, within: float) -> float | None:
    """Seconds until the front closed ``sock`` (from now), None if still open after ``within``."""
    sock.settimeout(0.2)
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - t0
        except TimeoutError:
            continue
        except OSError:  # reset: the front dropped it with unread bytes
            return time.monotonic() - t0
    return None


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A broker of its own (its memory measured from its start), with short timeouts."""
    log = tmp_path_factory.mktemp("front") / "broker.log"
    with EmbeddedBroker(log=log, options=["--request-timeout", str(REQUEST_TIMEOUT_S),
                                          "--idle-timeout", str(IDLE_TIMEOUT_S)]) as broker:
        yield broker


def broker_log(broker: EmbeddedBroker) -> str:
    assert broker._log is not None
    return Path(broker._log).read_text(errors="replace")


def test_oversized_frame_is_refused_unread(guarded: EmbeddedBroker) -> None:
    """2^31-1 bytes announced, then 64 MiB sent: dropped at once, the front's memory barely moves."""
    assert guarded.pid is not None
    before_kib = status_kib(guarded.pid, "VmRSS")
    sock = socket.create_connection(("127.0.0.1", guarded.port))
    sock.sendall(struct.pack(">i", 2**31 - 1))
    sent = 0
    with pytest.raises(OSError):  # the front resets the connection long before 64 MiB went in
        for _ in range(64):
            sock.sendall(b"\0" * MIB)
            sent += 1
    assert sent < 64
    assert closed_after(sock, 10) is not None
    sock.close()
    peak_growth_mib = (status_kib(guarded.pid, "VmHWM") - before_kib) / 1024
    assert peak_growth_mib < 10, f"the front grew by {peak_growth_mib:.1f} MiB"
    assert "a request announced as 2147483647 bytes" in broker_log(guarded)


def test_negative_size_is_refused(guarded: EmbeddedBroker) -> None:
    sock = socket.create_connection(("127.0.0.1", guarded.port))
    sock.sendall(struct.pack(">i", -5))
    assert closed_after(sock, 10) is not None
    sock.close()


def test_truncated_and_trickled_requests_time_out(guarded: EmbeddedBroker) -> None:
    """A request must arrive whole within --request-timeout, however its bytes trickle in."""
    sock = socket.create_connection(("127.0.0.1", guarded.port))
    t0 = time.monotonic()
    sock.sendall(struct.pack(">ihhi", 100, 3, 1, 7))  # announces 100 bytes, sends 8
    sock.settimeout(0.2)
    closed = None
    while closed is None and time.monotonic() - t0 < REQUEST_TIMEOUT_S + 30:
        try:
            sock.sendall(b"\0")  # one more byte every 0.2 s: never the whole request in time
        except OSError:
            closed = time.monotonic() - t0
            break
        if closed_after(sock, 0.2) is not None:
            closed = time.monotonic() - t0
    sock.close()
    assert closed is not None, "a trickled request was held longer than its timeout + 30 s"
    assert closed >= REQUEST_TIMEOUT_S - 0.5, f"dropped after {closed:.1f} s, before its timeout"
    assert "a request still incomplete after 2 s (--request-timeout)" in broker_log(guarded)


def test_idle_connection_is_closed(guarded: EmbeddedBroker) -> None:
    sock = socket.create_connection(("127.0.0.1", guarded.port))
    closed = closed_after(sock, IDLE_TIMEOUT_S + 30)
    sock.close()
    assert closed is not None, "an idle connection was held longer than its timeout + 30 s"
    assert closed >= IDLE_TIMEOUT_S - 0.5, f"closed after {closed:.1f} s, before the idle timeout"


def test_awaited_response_is_not_idleness(guarded: EmbeddedBroker) -> None:
    """A long-poll fetch that tansu holds past the idle timeout is answered, not cut (so is a
    consumer group's JoinGroup, held for session.timeout.ms / 2)."""
    topic = f"empty-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(guarded.bootstrap), topic, 1)
    wait_ms = int(IDLE_TIMEOUT_S * 2000)
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        t0 = time.monotonic()
        sock.sendall(wire.fetch_request(5, topic, 0, 0, MIB, max_wait_ms=wait_ms))
        sock.settimeout(wait_ms / 1000 + 60)
        head = sock.recv(8)
        waited = time.monotonic() - t0
    assert len(head) == 8 and struct.unpack(">ii", head)[1] == 5, head
    assert waited > IDLE_TIMEOUT_S  # the connection outlived its idle timeout while awaiting the answer


def test_client_that_stops_reading_is_idle(guarded: EmbeddedBroker) -> None:
    """A client that asks for ~50 MiB (8 fetches at once) and never reads the answers holds the front's
    buffers only until the idle timeout: then its connection is dropped, the answers unsent."""
    topic = f"unread-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(guarded.bootstrap), topic, 1)
    producer = Producer(producer_config(guarded.bootstrap))
    for i in range(12):
        produce(producer, topic, bytes([i]) * (2 * MIB))
    assert producer.flush(60) == 0
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(b"".join(wire.fetch_request(n, topic, 0, 0, 64 * MIB) for n in range(8)))
        time.sleep(IDLE_TIMEOUT_S + 5)  # not reading
        sock.settimeout(30)
        received, ended = 0, "still open after 30 s"
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            ended = "closed"
        except ConnectionResetError:
            ended = "reset"
        except TimeoutError:
            pass
    assert ended in ("closed", "reset"), f"{ended}, {received} bytes of answers read"
    assert received < 24 * MIB  # far from the 8 answers (tansu answers each with ~6 MiB: ~48 MiB in all)


def test_good_clients_still_pass_large_requests_and_fetches(guarded: EmbeddedBroker) -> None:
    """After the hostile clients above: 5 MiB packets in produce requests of ~10 MiB (msb's producer
    settings), read back in fetches of up to 64 MiB. The front holds buffers, not frames."""
    assert guarded.pid is not None
    topic = f"big-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(guarded.bootstrap), topic, 1)
    before_kib = status_kib(guarded.pid, "VmRSS")
    producer = Producer(producer_config(guarded.bootstrap))
    values = [bytes([i]) * (5 * MIB) for i in range(30)]
    delivered: list[int] = []
    for i, value in enumerate(values):
        produce(producer, topic, value, b"%d" % i,
                on_delivery=lambda err, m: delivered.append(m.offset()) if err is None else None)
        producer.poll(0)
    assert producer.flush(120) == 0 and len(delivered) == 30
    consumer = Consumer(consumer_config(guarded.bootstrap))
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 180
    try:
        while len(got) < 30 and time.monotonic() < deadline:
            got += [m.value() for m in consumer.consume(10, 1.0) if m.error() is None]
    finally:
        consumer.close()
    assert got == values
    growth_mib = (status_kib(guarded.pid, "VmHWM") - before_kib) / 1024
    assert growth_mib < 32, f"150 MiB relayed, the front grew by {growth_mib:.0f} MiB"


def api_versions(port: int) -> bool:
    """Whether the broker answers an ApiVersions request on a new connection within 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = struct.pack(">hhih", 18, 0, 42, -1)  # ApiVersions v0, correlation 42, no client id
        try:
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = sock.recv(8)
        except OSError:
            return False
        return len(head) == 8 and struct.unpack(">ii", head)[1] == 42


def test_connections_past_the_limit_are_refused(tmp_path: Path) -> None:
    with EmbeddedBroker(log=tmp_path / "broker.log", options=["--max-connections", "3"]) as broker:
        held = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(3)]
        extra = socket.create_connection(("127.0.0.1", broker.port))
        assert closed_after(extra, 10) is not None
        extra.close()
        assert "refused a connection from" in (tmp_path / "broker.log").read_text()
        held.pop().close()  # a place frees up: a client gets in again and is served
        deadline = time.monotonic() + 30
        while not api_versions(broker.port):
            assert time.monotonic() < deadline, "no client served after a connection was freed"
            time.sleep(0.2)
        for sock in held:
            sock.close()
