"""The filter topics' messages in Fink's Livestream convention (msb.livestream), built in the task.

Per alert that passed a filter: the value is the alert's original datum (from the Kafka message the
task read: a container packet's block, a Confluent packet after its 5 bytes, inflated when the
container is deflated) followed by msb's fields (msb/schemas/livestream.avsc) encoded column-wise;
the key is the alert's writer schema with those fields appended, as JSON, built once per writer
schema. Nothing of the alert is decoded or re-encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from msb import livestream
from msb.avro import SchemaStore, WriterSchema
from msb.avro.columnar import ColumnarDecoder, RecordEncoder
from msb.schemas import LIVESTREAM, load
from msb.surveys import ADAPTERS, route, target

# msb's appended field -> the decoded batch's column it comes from.
SOURCES = {"msb_filters": "filters", "msb_night": "night", "msb_topic": "topic", "msb_partition": "partition",
           "msb_offset": "offset", "msb_sent_ns": "msb_sent_ns"}

# One framer per schema source per Python worker: each writer schema's header is parsed once, and
# a packet's header is then recognised by comparing bytes (the columnar decoder's framing).
_DECODERS: dict[tuple[str | None, str | None], ColumnarDecoder] = {}


def _decoder(schema_dir: str | None, schema_registry: str | None) -> ColumnarDecoder:
    key = (schema_dir, schema_registry)
    dec = _DECODERS.get(key)
    if dec is None:
        store = SchemaStore(schema_dir, schema_registry) if schema_dir or schema_registry else None
        dec = _DECODERS[key] = ColumnarDecoder([target(name) for name in ADAPTERS], route, store)
    return dec


def extra_fields() -> list[dict[str, Any]]:
    return load(LIVESTREAM)["fields"]


class LivestreamEncoder:
    """(key, value) of the Livestream message of each alert, from its Kafka message and decoded row."""

    def __init__(self, schema_dir: str | None = None, schema_registry: str | None = None) -> None:
        self.decoder = _decoder(schema_dir, schema_registry)
        self.fields = extra_fields()
        self.extras = RecordEncoder(load(LIVESTREAM))  # no sync, no prefix: bare datums
        self._keys: dict[int, tuple[WriterSchema, bytes]] = {}

    def key(self, ws: WriterSchema) -> bytes:
        """The extended schema of a writer schema, as the message key (built once per writer schema)."""
        known = self._keys.get(id(ws))
        if known is None or known[0] is not ws:
            known = self._keys[id(ws)] = (ws, livestream.schema_key(livestream.extended_schema(ws.parsed,
                                                                                               self.fields)))
        return known[1]

    def encode(self, rows: pa.Table | pa.RecordBatch, values: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """One (key, value) per row; ``values[i]`` is the Kafka message row ``i`` was decoded from."""
        extras = self.extras.encode(pa.table({name: rows.column(col) for name, col in SOURCES.items()}))
        out = []
        for value, extra in zip(values, extras, strict=True):
            ws, datum = self.decoder.datum(value)
            out.append((self.key(ws), bytes(datum) + extra))
        return out
