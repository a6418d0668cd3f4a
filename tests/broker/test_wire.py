"""The front's ListOffsets handling in both encodings Kafka clients use: classic (v1, librdkafka on old
brokers) and flexible (v7, e.g. the Java client in Spark's native connector), over a raw socket."""

from __future__ import annotations

import socket
import struct

import pytest

from msb import kafka_wire as wire
from msb.broker import EmbeddedBroker
from tests.broker.test_end_offsets import produce_batched


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def list_offsets(version: int, topic: str, partitions: list[int]) -> bytes:
    """A ListOffsets request for the end (LATEST) of ``partitions``, size-prefixed."""
    name = topic.encode()
    head = struct.pack(">hhi", wire.LIST_OFFSETS, version, 7) + struct.pack(">h", 4) + b"test"
    if version >= 6:  # flexible: compact arrays and strings, tagged fields everywhere
        body = head + _uvarint(0) + struct.pack(">ib", -1, 0) + _uvarint(2) + _uvarint(len(name) + 1) + name
        body += _uvarint(len(partitions) + 1)
        for p in partitions:
            body += struct.pack(">iiq", p, -1, wire.LATEST) + _uvarint(0)
        body += _uvarint(0) + _uvarint(0)
    else:
        body = head + struct.pack(">i", -1) + (struct.pack(">b", 0) if version >= 2 else b"")  # isolation level
        body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name + struct.pack(">i", len(partitions))
        for p in partitions:
            epoch = struct.pack(">i", -1) if version >= 4 else b""  # current leader epoch
            body += struct.pack(">i", p) + epoch + struct.pack(">q", wire.LATEST)
    return struct.pack(">i", len(body)) + body


def _ask(bootstrap: str, request: bytes) -> bytes:
    host, port = bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        return s.recv(size, socket.MSG_WAITALL)


@pytest.mark.parametrize("version", [1, 4, 7])
def test_list_offsets_answers_the_true_end(broker: EmbeddedBroker, topic: str, version: int) -> None:
    sent = produce_batched(broker.bootstrap, topic, linger_ms=20)
    answers = wire.parse_list_offsets_response(_ask(broker.bootstrap, list_offsets(version, topic, [0, 1])), version)
    assert {a.partition: a.offset for a in answers} == dict(sent)
    assert all(a.error == 0 for a in answers)
