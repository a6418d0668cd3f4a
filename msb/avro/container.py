"""Avro object-container files, as ZTF sends one alert per message: the header (writer schema,
codec, sync marker) parsed once per distinct schema, the data blocks, and the header msb writes."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import fastavro

from msb.avro.prefix import PrefixReader
from msb.avro.schema import AlertDecodeError, WriterSchema, read_long, write_long

MAGIC = b"Obj\x01"
MAX_SCHEMAS = 256  # distinct container headers kept parsed


class ContainerDecoder:
    """Decodes Avro container-file messages, parsing each distinct writer schema once."""

    def __init__(self) -> None:
        self._schemas: dict[bytes, WriterSchema] = {}

    def _header(self, msg: bytes) -> tuple[WriterSchema, int, bytes]:
        """(schema, offset of the first block, sync marker) for one container message."""
        if len(msg) < 4 or msg[:4] != MAGIC:
            raise AlertDecodeError("not an Avro container file (bad magic bytes)")
        pos = 4
        meta: dict[str, bytes] = {}
        while True:
            count, pos = read_long(msg, pos)
            if count == 0:
                break
            if count < 0:  # block with byte size, as the spec allows
                count = -count
                _, pos = read_long(msg, pos)
            for _ in range(count):
                klen, pos = read_long(msg, pos)
                key = bytes(msg[pos : pos + klen]).decode()
                pos += klen
                vlen, pos = read_long(msg, pos)
                if pos + vlen > len(msg):
                    raise AlertDecodeError("truncated Avro header")
                meta[key] = bytes(msg[pos : pos + vlen])
                pos += vlen
        sync = bytes(msg[pos : pos + 16])
        if len(sync) != 16:
            raise AlertDecodeError("truncated Avro header (no sync marker)")
        header_key = bytes(msg[4:pos])
        ws = self._schemas.get(header_key)
        if ws is None:
            ws = self._parse(meta)
            if len(self._schemas) >= MAX_SCHEMAS:  # corrupt or hostile headers must not grow memory
                del self._schemas[next(iter(self._schemas))]
            self._schemas[header_key] = ws
        return ws, pos + 16, sync

    @staticmethod
    def _parse(meta: dict[str, bytes]) -> WriterSchema:
        raw = meta.get("avro.schema")
        if raw is None:
            raise AlertDecodeError("Avro header has no avro.schema")
        codec = meta.get("avro.codec", b"null").decode()
        if codec not in ("null", "deflate"):
            raise AlertDecodeError(f"unsupported Avro codec {codec!r}")
        try:
            schema = json.loads(raw)
            parsed = fastavro.parse_schema(schema)
        except Exception as exc:  # noqa: BLE001 - any schema failure is a bad packet
            raise AlertDecodeError(f"unreadable writer schema: {exc}") from exc
        name = parsed.get("name", "") if isinstance(parsed, dict) else ""
        return WriterSchema(parsed, name, codec, PrefixReader(parsed))

    def blocks(self, msg: bytes) -> tuple[WriterSchema, Iterator[tuple[int, bytes]]]:
        """The writer schema and an iterator over the decompressed datum bytes."""
        ws, pos, sync = self._header(msg)
        return ws, self._iter_datums(msg, pos, sync, ws)

    @staticmethod
    def _iter_datums(msg: bytes, pos: int, sync: bytes, ws: WriterSchema) -> Iterator[tuple[int, bytes]]:
        # Most packets hold one block with one datum; callers take the first record.
        end = len(msg)
        while pos < end:
            count, pos = read_long(msg, pos)
            size, pos = read_long(msg, pos)
            if size < 0 or pos + size + 16 > end:
                raise AlertDecodeError("truncated Avro data block")
            data = msg[pos : pos + size]
            pos += size
            if msg[pos : pos + 16] != sync:
                raise AlertDecodeError("Avro sync marker mismatch (corrupt block)")
            pos += 16
            if ws.codec == "deflate":
                try:
                    data = zlib.decompress(data, -15)
                except zlib.error as exc:
                    raise AlertDecodeError(f"corrupt deflate block: {exc}") from exc
            yield count, data


def container_header(schema: dict[str, Any], sync: bytes) -> bytes:
    """The header of a container file holding records of ``schema`` (null codec), sync marker included."""
    if len(sync) != 16:
        raise ValueError("an Avro sync marker is 16 bytes")
    meta = {"avro.schema": json.dumps(schema).encode(), "avro.codec": b"null"}
    head = bytearray(MAGIC)
    head += write_long(len(meta))
    for key, value in meta.items():
        head += write_long(len(key)) + key.encode() + write_long(len(value)) + value
    return bytes(head + write_long(0) + sync)
