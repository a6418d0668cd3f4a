"""The Avro contracts between components (msb/schemas): each has one module beside its .avsc holding
the parsed schema, one version of the same form and its encoder; container messages carry the
version as their sync marker, and messages written with the markers used before still read."""

from __future__ import annotations

import io
import re
from pathlib import Path

import fastavro
import pyarrow as pa
import pytest

from msb import paths
from msb.avro import SchemaStore
from msb.avro.columnar import RecordEncoder
from msb.schemas import (
    CLASSIFIED,
    LEGACY_MARKERS,
    LIVESTREAM,
    PROCESSED,
    classified,
    livestream,
    load,
    processed,
    sync_marker,
    version_of,
)
from msb.sources import iter_packets
from msb_crossmatch.records import input_decoder, read_inputs
from msb_stream.decode import BatchDecoder, DecodeSettings

CONTRACTS = {"processed": (processed, PROCESSED), "classified": (classified, CLASSIFIED),
             "livestream": (livestream, LIVESTREAM)}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_each_contract_module_holds_its_schema_and_one_version(name: str) -> None:
    module, avsc = CONTRACTS[name]
    assert module.SCHEMA == load(avsc) and Path(module.__file__) == avsc.with_suffix(".py")
    assert re.fullmatch(rf"msb\.{name}/\d+", module.VERSION)
    assert len(sync_marker(module.VERSION)) == 16


def _stream_rows(n: int = 30) -> pa.Table:
    """Flat rows of real ZTF and Rubin packets, as the stream decodes them, with the filters passed."""
    packets = []
    for folder in (paths.ztf_night(), paths.rubin_alerts()):
        packets += [p.data for _, p in zip(range(n // 2), iter_packets([folder]), strict=False)]
    rows = BatchDecoder(DecodeSettings(schema_dir=str(paths.rubin_schemas()))).decode(packets, {})
    filters = pa.array([["f"] if i % 2 else [] for i in range(rows.num_rows)], pa.list_(pa.string()))
    return rows.set_column(rows.schema.get_field_index("filters"), "filters", filters)


def test_container_messages_carry_their_contracts_version() -> None:
    rows = _stream_rows()
    messages = processed.encoder().encode(rows)
    assert {version_of(m) for m in messages} == {processed.VERSION}
    got = [next(iter(fastavro.reader(io.BytesIO(m)))) for m in messages]
    assert [r["candid"] for r in got] == rows.column("candid").to_pylist()
    schema = classified.with_catalogs(["mycat"])
    assert classified.SCHEMA == load(CLASSIFIED)  # extending it copies the contract
    table = pa.table({"candid": rows.column("candid"), "objectId": rows.column("objectId"),
                      "survey": rows.column("survey"), "classification": pa.repeat("Unknown", rows.num_rows),
                      "classification_reason": pa.repeat("none", rows.num_rows),
                      "classified_ns": pa.repeat(pa.scalar(1, pa.int64()), rows.num_rows)})
    out = classified.encoder(schema).encode(table)
    assert {version_of(m) for m in out} == {classified.VERSION}
    assert next(iter(fastavro.reader(io.BytesIO(out[0]))))["xm_mycat"] is None
    bare = classified.encoder(schema, "fink").encode(table)
    assert fastavro.schemaless_reader(io.BytesIO(bare[0]), fastavro.parse_schema(schema), None)["candid"] == \
        table.column("candid")[0].as_py()


def test_messages_with_the_markers_written_before_still_read() -> None:
    """The processed and classified markers before the versions were unified name the same versions,
    and the crossmatch reads processed messages of either marker alike."""
    assert LEGACY_MARKERS == {b"msb-processed-v1": processed.VERSION, b"msb-classified-1": classified.VERSION}
    rows = _stream_rows()
    legacy = RecordEncoder(processed.SCHEMA, sync=b"msb-processed-v1").encode(rows)
    current = processed.encoder().encode(rows)
    assert {version_of(m) for m in legacy} == {processed.VERSION} and legacy != current
    decoder = input_decoder(SchemaStore(paths.rubin_schemas()))
    old, new = read_inputs(decoder, legacy), read_inputs(decoder, current)
    assert not old.errors and old.table.equals(new.table) and old.table.num_rows == rows.num_rows
    assert version_of(b"x" * 16) is None
