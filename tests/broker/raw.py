"""Raw Kafka requests over a socket, for asking tansu or the front exactly one question."""

from __future__ import annotations

import socket
import struct

from msb import kafka_wire as wire


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def list_offsets(version: int, topic: str, partitions: list[int], timestamp: int = wire.LATEST) -> bytes:
    """A ListOffsets request for the end (LATEST) or start (EARLIEST) of ``partitions``, size-prefixed."""
    name = topic.encode()
    head = struct.pack(">hhi", wire.LIST_OFFSETS, version, 7) + struct.pack(">h", 4) + b"test"
    if version >= 6:  # flexible: compact arrays and strings, tagged fields everywhere
        body = head + _uvarint(0) + struct.pack(">ib", -1, 0) + _uvarint(2) + _uvarint(len(name) + 1) + name
        body += _uvarint(len(partitions) + 1)
        for p in partitions:
            body += struct.pack(">iiq", p, -1, timestamp) + _uvarint(0)
        body += _uvarint(0) + _uvarint(0)
    else:
        body = head + struct.pack(">i", -1) + (struct.pack(">b", 0) if version >= 2 else b"")  # isolation level
        body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name + struct.pack(">i", len(partitions))
        for p in partitions:
            epoch = struct.pack(">i", -1) if version >= 4 else b""  # current leader epoch
            body += struct.pack(">i", p) + epoch + struct.pack(">q", timestamp)
    return struct.pack(">i", len(body)) + body


def ask(address: str, request: bytes) -> bytes:
    """The response frame (without its size prefix) to one size-prefixed request sent to host:port."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        size = struct.unpack(">i", _read(s, 4))[0]
        return _read(s, size)


def _read(s: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes (a socket with a timeout may hand over fewer per recv, even with MSG_WAITALL)."""
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def offsets(address: str, topic: str, partitions: list[int], timestamp: int, version: int = 1) -> dict[int, int]:
    """partition -> the offset ``address`` answers a ListOffsets(``timestamp``) with."""
    answers = wire.parse_list_offsets_response(ask(address, list_offsets(version, topic, partitions, timestamp)),
                                               version)
    assert all(a.error == 0 for a in answers), answers
    return {a.partition: a.offset for a in answers}
