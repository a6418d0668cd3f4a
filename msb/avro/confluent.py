"""The Confluent wire format, as Rubin sends alerts: magic byte 0, a 4-byte big-endian schema id,
then the bare datum."""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import schemaless_writer

from msb.avro.schema import AlertDecodeError, WriterSchema

CONFLUENT_MAGIC = 0


def split_confluent(msg: bytes) -> tuple[int, memoryview]:
    if len(msg) < 5 or msg[0] != CONFLUENT_MAGIC:
        raise AlertDecodeError("not Confluent wire format (magic byte 0 missing)")
    return struct.unpack_from(">I", msg, 1)[0], memoryview(msg)[5:]


def encode_confluent(record: dict[str, Any], schema_id: int, ws: WriterSchema) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", CONFLUENT_MAGIC, schema_id))
    schemaless_writer(buf, ws.parsed, record)
    return buf.getvalue()


def frame_confluent(schema_id: int, datum: bytes | memoryview) -> bytes:
    """Confluent wire format around an already-encoded datum: no decode/encode round trip."""
    return struct.pack(">bI", CONFLUENT_MAGIC, schema_id) + bytes(datum)
