"""One entry point for any alert message, container or Confluent, decoded by fastavro into a dict
(notebooks, ``msb consume``, the replay), and the same message with new ids (a looping replay).
The stream and the crossmatch use the columnar decoder (msb.avro.columnar) instead."""

from __future__ import annotations

import io
import zlib
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from msb.avro.confluent import split_confluent
from msb.avro.container import MAGIC, ContainerDecoder
from msb.avro.registry import SchemaStore
from msb.avro.schema import AlertDecodeError, WriterSchema, write_long


def _schemaless(fo: io.BytesIO, parsed: Any) -> dict[str, Any]:
    try:
        return schemaless_reader(fo, parsed, None)
    except AlertDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - fastavro raises many types on corrupt data
        raise AlertDecodeError(f"corrupt Avro datum: {type(exc).__name__}: {exc}") from exc


class AlertDecoder:
    """Decodes any alert message: container or Confluent wire format, told apart by magic."""

    def __init__(self, schemas: SchemaStore | None = None) -> None:
        self.container = ContainerDecoder()
        self.schemas = schemas

    def writer_schema(self, msg: bytes) -> tuple[WriterSchema, bytes | memoryview]:
        """The writer schema and the (first) datum bytes of one message."""
        if msg[:4] == MAGIC:
            ws, blocks = self.container.blocks(msg)
            for count, data in blocks:
                if count >= 1:
                    return ws, data
            raise AlertDecodeError("Avro container holds no record")
        if msg[:1] == b"\x00":
            if self.schemas is None:
                raise AlertDecodeError("Confluent wire-format message but no schema folder or registry given")
            sid, datum = split_confluent(msg)
            return self.schemas.get(sid), datum
        raise AlertDecodeError("neither an Avro container file nor Confluent wire format")

    def decode(self, msg: bytes) -> dict[str, Any]:
        return self.read(*self.writer_schema(msg))

    @staticmethod
    def read(ws: WriterSchema, datum: bytes | memoryview) -> dict[str, Any]:
        """The record of a datum whose writer schema is known (the header is not parsed again)."""
        return _schemaless(io.BytesIO(datum), ws.parsed)

    def prefix(self, msg: bytes, wanted: frozenset[str]) -> tuple[WriterSchema, dict[str, Any] | None]:
        ws, datum = self.writer_schema(msg)
        return ws, ws.prefix.read(datum, wanted)


def with_new_ids(decoder: AlertDecoder, msg: bytes, ids: dict[str, int]) -> bytes:
    """The same alert with some id fields replaced (``"candid"``, ``"candidate.candid"``...), in the
    same wire format: a looping replay sends fresh alerts that nothing deduplicates away."""
    ws, datum = decoder.writer_schema(msg)
    body = ws.prefix.with_longs(datum, ids)  # ids lead both surveys' alerts: a splice, no decode
    if body is None:
        record = _schemaless(io.BytesIO(datum), ws.parsed)
        for path, value in ids.items():
            node = record
            *parents, leaf = path.split(".")
            for part in parents:
                node = node[part]
            if leaf in node:
                node[leaf] = value
        buf = io.BytesIO()
        schemaless_writer(buf, ws.parsed, record)
        body = buf.getvalue()
    if msg[:4] != MAGIC:  # Confluent wire format: keep the schema id
        return bytes(msg[:5]) + body
    _, pos, sync = decoder.container._header(msg)
    if ws.codec == "deflate":
        packer = zlib.compressobj(wbits=-15)
        body = packer.compress(body) + packer.flush()
    return bytes(msg[:pos]) + write_long(1) + write_long(len(body)) + body + sync
