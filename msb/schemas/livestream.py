"""The Livestream contract (livestream.avsc): the fields msb appends to an alert on a filter topic in
Fink's Livestream convention (msb.livestream), and its encoder, which builds each message without
decoding or re-encoding the alert.

The value is the alert's original datum (from the Kafka message it came in: a container packet's
block, a Confluent packet after its 5 bytes, inflated when the container is deflated) followed by
these fields encoded column-wise; the key is the alert's writer schema with the fields appended, as
JSON, built once per writer schema. Bare datums carry no sync marker: VERSION is not on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from msb import livestream
from msb.avro import SchemaStore, WriterSchema
from msb.avro.columnar import ColumnarDecoder, RecordEncoder
from msb.schemas import LIVESTREAM, load
from msb.surveys import ADAPTERS, route, target

SCHEMA = load(LIVESTREAM)
VERSION = "msb.livestream/1"
FIELDS = [f["name"] for f in SCHEMA["fields"]]

# One framer per schema source per process: each writer schema's header is parsed once, and a packet's
# header is then recognised by comparing bytes (the columnar decoder's framing).
_DECODERS: dict[tuple[str | None, str | None], ColumnarDecoder] = {}


def _decoder(schema_dir: str | None, schema_registry: str | None) -> ColumnarDecoder:
    key = (schema_dir, schema_registry)
    dec = _DECODERS.get(key)
    if dec is None:
        store = SchemaStore(schema_dir, schema_registry) if schema_dir or schema_registry else None
        dec = _DECODERS[key] = ColumnarDecoder([target(name) for name in ADAPTERS], route, store)
    return dec


class LivestreamEncoder:
    """(key, value) of the Livestream message of each alert, from its Kafka message and its fields."""

    def __init__(self, schema_dir: str | None = None, schema_registry: str | None = None) -> None:
        self.decoder = _decoder(schema_dir, schema_registry)
        self.extras = RecordEncoder(SCHEMA)  # no sync, no prefix: bare datums
        self._keys: dict[int, tuple[WriterSchema, bytes]] = {}

    def key(self, ws: WriterSchema) -> bytes:
        """The extended schema of a writer schema, as the message key (built once per writer schema)."""
        known = self._keys.get(id(ws))
        if known is None or known[0] is not ws:
            extended = livestream.extended_schema(ws.parsed, SCHEMA["fields"])
            known = self._keys[id(ws)] = (ws, livestream.schema_key(extended))
        return known[1]

    def encode(self, fields: pa.Table, values: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """One (key, value) per row of ``fields`` (the contract's FIELDS, by name); ``values[i]`` is the
        Kafka message row ``i``'s alert came in."""
        extras = self.extras.encode(fields.select(FIELDS))
        out = []
        for value, extra in zip(values, extras, strict=True):
            ws, datum = self.decoder.datum(value)
            out.append((self.key(ws), bytes(datum) + extra))
        return out
