"""msb.schemas.livestream, fed by msb_stream.livestream: each published alert's Livestream (key, value)
from the packet msb read, in every packet form the stream takes, equal to fastavro's encoding of the
alert with msb's fields."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

from msb import paths
from msb.avro import AlertDecoder, SchemaStore, encode_confluent
from msb.schemas import LIVESTREAM, field_names
from msb.schemas.livestream import FIELDS, LivestreamEncoder
from msb.surveys.rubin import registry_id
from msb_stream.livestream import SOURCES, contract_fields


def test_key_and_value_for_container_deflate_and_confluent_packets(ztf_night: Path, rubin_dir: Path) -> None:
    store = SchemaStore(paths.rubin_schemas())
    dec = AlertDecoder(store)
    ztf = sorted(ztf_night.glob("*.avro"))[0].read_bytes()
    rubin = sorted(rubin_dir.glob("*.avro"))[0].read_bytes()
    ztf_rec, rubin_rec = dec.decode(ztf), dec.decode(rubin)
    deflated = io.BytesIO()
    fastavro.writer(deflated, fastavro.reader(io.BytesIO(ztf)).writer_schema, [ztf_rec], codec="deflate")
    sid = registry_id(10, 0)
    packets = [ztf, deflated.getvalue(), rubin, encode_confluent(rubin_rec, sid, store.get(sid))]
    records = [ztf_rec, ztf_rec, rubin_rec, rubin_rec]
    assert fastavro.reader(io.BytesIO(packets[1])).codec == "deflate"
    rows = pa.table({"filters": [["known_sso"], ["a", "b"], [], ["rubin_high_reliability"]],
                     "night": ["20181129", None, "20260101", "20260101"], "topic": ["raw"] * 4,
                     "partition": pa.array([0, 1, 0, 1], pa.int32()), "offset": pa.array([5, 6, 7, 8], pa.int64()),
                     "msb_sent_ns": pa.array([1, None, 3, 4], pa.int64())})
    encoder = LivestreamEncoder(str(paths.rubin_schemas()))
    messages = encoder.encode(contract_fields(rows), packets)
    assert messages[0][0] == messages[1][0] and messages[2][0] == messages[3][0]  # one key per writer schema
    extra = field_names(LIVESTREAM)
    for (key, value), rec, row in zip(messages, records, rows.to_pylist(), strict=True):
        schema = fastavro.schema.parse_schema(json.loads(key))
        got = fastavro.schemaless_reader(io.BytesIO(value), schema, None)
        want: dict[str, Any] = {**rec, **{name: row[col] for name, col in SOURCES.items()}}
        assert got == want
        assert [f["name"] for f in json.loads(key)["fields"]][-len(extra):] == extra
        encoded = io.BytesIO()
        fastavro.schemaless_writer(encoded, schema, want)
        assert value == encoded.getvalue()  # byte for byte what fastavro writes for the whole record


def test_the_stream_fills_every_field_of_the_contract() -> None:
    assert list(SOURCES) == FIELDS
