"""What every part of msb's Avro layer shares: the error a bad packet raises, a parsed writer
schema, and Avro's zig-zag varints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from msb.avro.prefix import PrefixReader


class AlertDecodeError(ValueError):
    """A message that is not a readable alert packet; the text says why."""


@dataclass(frozen=True)
class WriterSchema:
    """A parsed writer schema and what we derived from it once."""

    parsed: Any
    name: str
    codec: str
    prefix: PrefixReader


def read_long(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Avro zig-zag varint at ``pos``: returns (value, new position)."""
    shift = 0
    acc = 0
    while True:
        try:
            b = buf[pos]
        except IndexError:
            raise AlertDecodeError("truncated varint") from None
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 63:
            raise AlertDecodeError("corrupt varint")


def value_at(record: Any, path: str) -> Any:
    """The value at a dotted path (``candidate.jd``) of a decoded record; None where a step is missing."""
    for part in path.split("."):
        record = record.get(part) if isinstance(record, Mapping) else None
    return record


def write_long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
