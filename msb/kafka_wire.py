"""The few pieces of the Kafka wire protocol that ``msb broker``'s front proxy reads or writes.

Only ListOffsets (request and response, every version from 1) is parsed, plus the Fetch requests
the proxy sends itself; everything else passes through as opaque frames. Field layouts follow
the Apache Kafka message definitions (clients/src/main/resources/common/message/*.json).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

LIST_OFFSETS = 2
FETCH = 1
LATEST = -1  # ListOffsets timestamp that asks for the end of a partition
EARLIEST = -2  # ... and for its start
FETCH_VERSION = 4  # non-flexible, with isolation level: enough to read record batch headers
RECORD_BATCH_HEADER = 61  # bytes of a v2 record batch header


class Reader:
    """Sequential decoder over one frame; ``flexible`` selects the compact (KIP-482) encodings."""

    def __init__(self, buf: bytes | bytearray, pos: int = 0, flexible: bool = False) -> None:
        self.buf, self.pos, self.flexible = buf, pos, flexible

    def _fixed(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def int8(self) -> int:
        return self._fixed(">b")

    def int16(self) -> int:
        return self._fixed(">h")

    def int32(self) -> int:
        return self._fixed(">i")

    def int64(self) -> int:
        return self._fixed(">q")

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            byte = self.buf[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def string(self) -> str | None:
        size = self.uvarint() - 1 if self.flexible else self.int16()
        if size < 0:
            return None
        text = bytes(self.buf[self.pos:self.pos + size]).decode()
        self.pos += size
        return text

    def count(self) -> int:
        """Length of an array (0 for null)."""
        n = self.uvarint() - 1 if self.flexible else self.int32()
        return max(n, 0)

    def tags(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()


def request_header(buf: bytes | bytearray) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a request frame (without its size prefix)."""
    return struct.unpack_from(">hhi", buf, 0)


def correlation_id(buf: bytes | bytearray) -> int:
    """Correlation id of a response frame (without its size prefix)."""
    return int(struct.unpack_from(">i", buf, 0)[0])


def list_offsets_flexible(version: int) -> bool:
    return version >= 6


def parse_list_offsets_request(buf: bytes | bytearray, version: int) -> dict[tuple[str, int], int]:
    """(topic, partition) -> LATEST or EARLIEST, for the partitions a ListOffsets request asks the end
    or the start of (those it asks for a timestamp are left out)."""
    flexible = list_offsets_flexible(version)
    r = Reader(buf, 8)  # after api_key, api_version, correlation_id
    r.string()  # client_id: a classic nullable string even in flexible headers
    r.flexible = flexible
    r.tags()
    r.int32()  # replica_id
    if version >= 2:
        r.int8()  # isolation_level
    asked: dict[tuple[str, int], int] = {}
    for _ in range(r.count()):
        topic = r.string() or ""
        for _ in range(r.count()):
            partition = r.int32()
            if version >= 4:
                r.int32()  # current_leader_epoch
            if (timestamp := r.int64()) in (LATEST, EARLIEST):
                asked[(topic, partition)] = timestamp
            if version == 0:
                r.int32()  # max_num_offsets
            r.tags()
        r.tags()
    return asked


@dataclass(frozen=True)
class OffsetAnswer:
    topic: str
    partition: int
    error: int
    offset: int
    position: int  # where the 8-byte offset sits in the frame, to patch it in place


def parse_list_offsets_response(buf: bytes | bytearray, version: int) -> list[OffsetAnswer]:
    """Every partition answer of a ListOffsets response (version >= 1: one offset each)."""
    flexible = list_offsets_flexible(version)
    r = Reader(buf, 4, flexible)  # after correlation_id
    r.tags()
    if version >= 2:
        r.int32()  # throttle_time_ms
    out: list[OffsetAnswer] = []
    for _ in range(r.count()):
        topic = r.string() or ""
        for _ in range(r.count()):
            partition, error = r.int32(), r.int16()
            r.int64()  # timestamp
            position = r.pos
            offset = r.int64()
            if version >= 4:
                r.int32()  # leader_epoch
            r.tags()
            out.append(OffsetAnswer(topic, partition, error, offset, position))
        r.tags()
    return out


def patch_offset(buf: bytearray, position: int, offset: int) -> None:
    struct.pack_into(">q", buf, position, offset)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def fetch_request(correlation: int, topic: str, partition: int, offset: int, max_bytes: int,
                  max_wait_ms: int = 100) -> bytes:
    """A size-prefixed Fetch v4 for one partition from ``offset`` (an existing one: answered at once;
    past the end: answered after ``max_wait_ms``).

    max_wait_ms is not 0 because tansu then answers with no data at all.
    """
    body = (struct.pack(">hhi", FETCH, FETCH_VERSION, correlation) + _string("msb-broker")
            + struct.pack(">iiiib", -1, max_wait_ms, 1, max_bytes, 0)  # replica, wait, min_bytes, max_bytes, isolation
            + struct.pack(">i", 1) + _string(topic)
            + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, max_bytes))
    return struct.pack(">i", len(body)) + body


@dataclass(frozen=True)
class Fetched:
    """What a Fetch v4 response says of its partitions: the high watermark it reports and the offsets
    its record batches span, read from their headers only (a batch's records need not be complete)."""

    high: int | None
    first: int | None  # base offset of the lowest batch
    end: int | None  # one past the last offset of the highest batch


def parse_fetch(buf: bytes | bytearray) -> Fetched | None:
    """A Fetch v4 response (without its size prefix); None on a partition error."""
    r = Reader(buf, 4)  # after correlation_id
    r.int32()  # throttle_time_ms
    high: int | None = None
    first: int | None = None
    end: int | None = None
    for _ in range(r.count()):
        r.string()
        for _ in range(r.count()):
            r.int32()  # partition
            if r.int16() != 0:
                return None
            reported = r.int64()
            high = max(high or 0, reported) if reported > 0 else high
            r.int64()  # last stable offset
            for _ in range(r.count()):  # aborted transactions
                r.int64()
                r.int64()
            size = r.int32()
            start, stop = r.pos, r.pos + max(size, 0)
            while start + 27 <= stop:  # up to and including lastOffsetDelta
                base, length = struct.unpack_from(">qi", buf, start)
                if buf[start + 16] == 2:  # magic: a v2 record batch
                    (delta,) = struct.unpack_from(">i", buf, start + 23)
                    first = base if first is None else min(first, base)
                    end = max(end or 0, base + delta + 1)
                start += 12 + length
            r.pos = stop
    return Fetched(high, first, end)


def fetched_start(buf: bytes | bytearray) -> int | None:
    """The base offset of the first record batch in a Fetch v4 response; None on an error or no batch."""
    f = parse_fetch(buf)
    return None if f is None else f.first
