"""The columnar decoder against fastavro on every packet of ../shared, three ways (the compiled plans,
the same plans run as Python, the fastavro fallback path), and against hostile input: truncation,
random bytes and single-byte flips of real packets, each one error that leaves the rest of its batch
untouched, in bounded time."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest

from msb import paths
from msb.avro import MAGIC, AlertDecoder, SchemaStore, frame_confluent
from msb.avro import _columns as compiled_engine
from msb.avro.columnar import ColumnarDecoder, Target, compiled, pure_engine
from msb.avro.plan import Column, ListColumn, PlanUnsupported, Projection, compile_plan
from msb.avro.schema import value_at
from msb.sources import Packet, iter_packets
from msb.surveys import ADAPTERS, route, target

RUBIN_ID = 1000  # schema 10.0 in the local Rubin schema folder


def _packets() -> list[bytes]:
    """Every real packet: ZTF 3.2, 3.3, Fink's 4.02; Rubin 10.0 as files and in Confluent framing; the
    Rubin 10.0 and 11.1 sample alerts; and a ZTF 4.02 alert with forced photometry (written here with
    the real schema: none ships)."""
    out = [p.data for p in iter_packets([paths.shared_dir() / "data/ztf/alerts"]) if isinstance(p, Packet)]
    rubin = [p.data for p in iter_packets([paths.rubin_alerts()]) if isinstance(p, Packet)]
    out += rubin
    out += [frame_confluent(RUBIN_ID, AlertDecoder().writer_schema(r)[1]) for r in rubin]
    out += [(paths.rubin_schemas() / v / "sample_data/fakeAlert.avro").read_bytes() for v in ("10.0", "11.1")]
    return out + [_ztf_402_with_fp_hists()]


def _ztf_402_with_fp_hists() -> bytes:
    schema = fastavro.schema.load_schema(paths.shared_dir() / "data/ztf/schema/ztf_alert_v4.02_combined.avsc")
    v33 = paths.ztf_night().parent / "ztf_public_20200101_v3.3"
    real = AlertDecoder().decode(sorted(v33.glob("*.avro"))[0].read_bytes())
    fields = {f["name"]: f for f in schema["fields"]}
    cand_fields = {f["name"] for f in fields["candidate"]["type"]["fields"]}
    fp_type = next(t for t in fields["fp_hists"]["type"] if isinstance(t, dict))
    hist = {f["name"]: None for f in fp_type["items"]["fields"]}
    hist.update(field=1, rcid=2, fid=1, pid=1, rfid=1, jd=real["candidate"]["jd"], exptime=30.0,
                ranr=real["candidate"]["ra"], decnr=real["candidate"]["dec"], diffmaglim=20.5, programid=1,
                procstatus="0")
    record = {**{k: real.get(k) for k in ("objectId", "candid", "prv_candidates", "cutoutScience",
                                          "cutoutTemplate", "cutoutDifference")},
              "schemavsn": "4.02", "publisher": "ZTF", "fp_hists": [hist, {**hist, "pid": 2}],
              "candidate": {k: real["candidate"].get(k) for k in cand_fields}}
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [record], validator=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def packets(shared: Path) -> list[bytes]:
    found = _packets()
    assert len(found) == 748 + 2 * 47 + 2 + 1
    return found


def _reference(msg: bytes, store: SchemaStore) -> dict[str, Any]:
    """fastavro's record for one message: the obvious decoder."""
    if msg[:4] == MAGIC:
        return next(fastavro.reader(io.BytesIO(msg)))
    return fastavro.schemaless_reader(io.BytesIO(msg[5:]), store.get(int.from_bytes(msg[1:5], "big")).parsed, None)


def _typed(value: Any, kind: str) -> Any:
    """fastavro's value as the column's type holds it (float columns are 32-bit)."""
    return float(np.float32(value)) if kind == "float" and value is not None else value


def expected(rec: dict[str, Any], projection: Projection) -> dict[str, Any]:
    """The projection's values read straight off fastavro's record."""
    out = {c.name: _typed(value_at(rec, c.path), c.kind) for c in projection.columns}
    for lc in projection.lists:
        items = value_at(rec, lc.path)
        out[lc.name] = None if items is None else [
            None if item is None else {c.name: _typed(value_at(item, c.path), c.kind) for c in lc.items}
            for item in items]
    return out


def nan_as_text(value: Any) -> Any:
    """NaN compared as equal to NaN (a flipped byte can make one)."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, dict):
        return {k: nan_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_as_text(v) for v in value]
    return value


def make_decoder(way: str, store: SchemaStore, cutouts: bool = True) -> ColumnarDecoder:
    engine = pure_engine() if way == "python" else compiled_engine
    return ColumnarDecoder([target(name, cutouts) for name in ADAPTERS], route, store,
                           use_plans=way != "fastavro", engine=engine)


def rows_of(decoded: Any, n: int) -> list[dict[str, Any] | str]:
    """Each message's raw row (a dict), or its error (a string), in message order."""
    out: list[Any] = [None] * n
    for _name, (rows, batch) in decoded.batches.items():
        for i, row in zip(rows, batch.to_pylist(), strict=True):
            out[i] = row
    for i, reason in decoded.errors:
        out[i] = reason
    return out


@pytest.fixture(scope="module")
def store(shared: Path) -> SchemaStore:
    return SchemaStore(paths.rubin_schemas())


def test_the_extension_is_built() -> None:
    """`make install` compiles the executor: the stream runs the C extension, not the Python source."""
    assert compiled(), "msb/avro/_columns.py is not compiled: run `make install`"


@pytest.mark.parametrize("way", ["compiled", "python", "fastavro"])
def test_every_shared_packet_equals_fastavro(way: str, packets: list[bytes], store: SchemaStore) -> None:
    dec = make_decoder(way, store)
    decoded = dec.decode(packets)
    assert decoded.errors == []
    assert len(decoded.fallbacks) == (len(packets) if way == "fastavro" else 0)
    rows = rows_of(decoded, len(packets))
    for msg, row in zip(packets, rows, strict=True):
        rec = _reference(msg, store)
        projection = target(route(dec.writer_schema_of(msg)), True).projection
        assert row == expected(rec, projection)


def test_values_survive_batches_of_mixed_schemas_in_any_order(packets: list[bytes], store: SchemaStore) -> None:
    """The same packets shuffled into one batch: each keeps its own values."""
    order = list(range(len(packets)))
    random.Random(7).shuffle(order)
    dec = make_decoder("compiled", store)
    straight = rows_of(dec.decode(packets), len(packets))
    shuffled = rows_of(dec.decode([packets[i] for i in order]), len(packets))
    assert [straight[i] for i in order] == shuffled


# ----------------------------------------------------------------------------- hostile input


def _ztf(packets: list[bytes]) -> bytes:
    return packets[0]


def _rubin_confluent(packets: list[bytes]) -> bytes:
    return next(p for p in packets if p[:1] == b"\x00")


def _truncations(msg: bytes) -> list[bytes]:
    """Every length class: empty, inside the magic / Confluent prefix, inside the header, at the
    header's end, inside the block's varints, inside the datum (every byte of the first 2 KB after
    the header, then every 97th), inside the sync marker, one byte short."""
    head = 5 if msg[:4] != MAGIC else msg.index(b"\x00", msg.index(b"avro.codec")) + 1
    cuts = {0, 1, 2, 3, 4, 5, head - 1, head, head + 1, head + 16, head + 17, head + 18, len(msg) - 17,
            len(msg) - 16, len(msg) - 8, len(msg) - 1}
    cuts |= set(range(head, min(head + 2048, len(msg))))
    cuts |= set(range(head, len(msg), 97))
    return [msg[:c] for c in sorted(cuts) if 0 <= c < len(msg)]


def _flips(msg: bytes, start: int, length: int, rng: random.Random) -> list[bytes]:
    """Each byte of msg[start:start+length] changed once (all bits, or one, alternately)."""
    out = []
    for pos in range(start, min(start + length, len(msg))):
        b = bytearray(msg)
        b[pos] ^= 0xFF if pos % 2 else 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


def _check_hostile(dec: ColumnarDecoder, store: SchemaStore, good: list[bytes], bad: list[bytes],
                   must_fail: bool) -> dict[str, int]:
    """``bad`` packets interleaved with good ones in batches: the good keep their values, each bad one
    is an error (``must_fail``) or decodes to what fastavro reads from the same bytes; each in bounded
    time."""
    want = rows_of(dec.decode(good), len(good))
    seen = {"errors": 0, "decoded": 0, "fastavro_fails_too": 0}
    slowest = 0.0
    for i in range(0, len(bad), 64):
        chunk = bad[i : i + 64]
        batch = [x for pair in zip(good * (len(chunk) // len(good) + 1), chunk, strict=False) for x in pair]
        t0 = time.perf_counter()
        rows = rows_of(dec.decode(batch), len(batch))
        slowest = max(slowest, (time.perf_counter() - t0) / len(batch))
        for j, row in enumerate(rows):
            if j % 2 == 0:
                assert row == want[(j // 2) % len(good)]
                continue
            msg = batch[j]
            if isinstance(row, str):
                seen["errors"] += 1
                assert row, "an error names its reason"
                continue
            assert not must_fail, f"a damaged packet decoded: {row}"
            seen["decoded"] += 1
            try:
                rec = _reference(msg, store)
            except Exception:  # noqa: BLE001 - fastavro rejects what we read (a skipped field it validates)
                seen["fastavro_fails_too"] += 1
                continue
            projection = target(route(dec.writer_schema_of(msg)), True).projection
            assert nan_as_text(row) == nan_as_text(expected(rec, projection))
    assert slowest < 0.5, f"a batch took {slowest:.3f} s per packet"
    return seen


@pytest.mark.parametrize("way", ["compiled", "python"])
def test_every_truncation_is_an_error(way: str, packets: list[bytes], store: SchemaStore) -> None:
    dec = make_decoder(way, store)
    bad = []
    for msg in (_ztf(packets), _rubin_confluent(packets)):
        cuts = _truncations(msg)
        bad += cuts if way == "compiled" else cuts[::16]
    seen = _check_hostile(dec, store, [packets[1], packets[700]], bad, must_fail=True)
    assert seen["errors"] == len(bad)


def test_random_bytes_are_errors(packets: list[bytes], store: SchemaStore) -> None:
    rng = random.Random(11)
    ztf_head = _ztf(packets)[: _ztf(packets).index(b"\x00", _ztf(packets).index(b"avro.codec")) + 17]
    bad = []
    for _ in range(300):
        body = rng.randbytes(rng.choice([0, 1, 3, 16, 200, 5000]))
        bad += [body, MAGIC + body, b"\x00" + RUBIN_ID.to_bytes(4, "big") + body, ztf_head + body]
    seen = _check_hostile(make_decoder("compiled", store), store, [packets[3]], bad, must_fail=False)
    assert seen["errors"] >= len(bad) * 0.95


@pytest.mark.parametrize("way", ["compiled", "python"])
def test_single_byte_flips_of_real_packets(way: str, packets: list[bytes], store: SchemaStore) -> None:
    """Flips over the first 2 KB of each datum (the record's own fields: ids, positions, the candidate),
    and over the ZTF header's schema JSON every 53rd byte: each is an error, or decodes exactly as
    fastavro reads the same bytes."""
    rng = random.Random(5)
    ztf, rubin = _ztf(packets), _rubin_confluent(packets)
    head = ztf.index(b"\x00", ztf.index(b"avro.codec")) + 17
    bad = _flips(ztf, head, 2048, rng) + _flips(rubin, 5, 2048, rng)
    bad += [x for pos in range(0, head, 53) for x in _flips(ztf, pos, 1, rng)]
    if way == "python":
        bad = bad[::24]
    seen = _check_hostile(make_decoder(way, store), store, [packets[2], packets[750]], bad, must_fail=False)
    # Most flips land in numbers and stay readable (then equal to fastavro's reading); the rest break
    # a length, a union branch or the framing and are errors.
    assert seen["errors"] + seen["decoded"] == len(bad) and seen["errors"] > 0 and seen["decoded"] > 0


def test_hostile_schemas_do_not_grow_memory(packets: list[bytes], store: SchemaStore) -> None:
    """Thousands of packets whose headers differ (flipped schema text) are all read, and the decoder
    keeps a bounded number of schemas."""
    ztf = _ztf(packets)
    dec = make_decoder("compiled", store)
    variants = [ztf.replace(b"schema version used", f"schema version {i:04d}".encode(), 1) for i in range(600)]
    decoded = dec.decode(variants)
    assert decoded.errors == [] and len({r["candid"] for r in rows_of(decoded, 600)}) == 1
    assert len(dec.container._schemas) <= 256 and len(dec._headers) <= 64


# ----------------------------------------------------------------------------- where the plan cannot apply


def _ztf_records(n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    files = sorted(paths.ztf_night().glob("*.avro"))[:n]
    reader = fastavro.reader(io.BytesIO(files[0].read_bytes()))
    return reader.writer_schema, [next(fastavro.reader(io.BytesIO(f.read_bytes()))) for f in files]


def test_deflate_packets_run_the_plan(store: SchemaStore) -> None:
    schema, recs = _ztf_records(3)
    msgs = []
    for rec in recs:
        buf = io.BytesIO()
        fastavro.writer(buf, schema, [rec], codec="deflate")
        msgs.append(buf.getvalue())
    dec = make_decoder("compiled", store)
    decoded = dec.decode(msgs)
    assert decoded.errors == [] and decoded.fallbacks == []
    projection = target("ztf", True).projection
    assert rows_of(decoded, 3) == [expected(r, projection) for r in recs]


def test_several_records_in_one_container_take_the_fastavro_path(store: SchemaStore) -> None:
    """A container of several records (one block, or one block each) is read by fastavro: its first
    record, as a one-record packet would be; the fallback is counted."""
    schema, recs = _ztf_records(3)
    one_block, many_blocks = io.BytesIO(), io.BytesIO()
    fastavro.writer(one_block, schema, recs)
    fastavro.writer(many_blocks, schema, recs, sync_interval=1)
    dec = make_decoder("compiled", store)
    decoded = dec.decode([one_block.getvalue(), many_blocks.getvalue()])
    assert decoded.errors == [] and decoded.fallbacks == [0, 1] and dec.fallbacks_total == 2
    want = expected(recs[0], target("ztf", True).projection)
    assert rows_of(decoded, 2) == [want, want]


def test_a_schema_the_compiler_lacks_takes_the_fastavro_path(store: SchemaStore) -> None:
    """An enum where a string column is projected: the compiler says why it cannot, and the packets of
    that schema go through fastavro with the same values."""
    schema = {"type": "record", "name": "ztf.alert", "fields": [
        {"name": "objectId", "type": "string"}, {"name": "candid", "type": "long"},
        {"name": "schemavsn", "type": {"type": "enum", "name": "version", "symbols": ["v3_3", "v4_02"]}}]}
    with pytest.raises(PlanUnsupported, match="schemavsn: enums are not projected"):
        compile_plan(fastavro.parse_schema(schema), target("ztf").projection)
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [{"objectId": "ZTF1", "candid": 7, "schemavsn": "v4_02"}])
    dec = make_decoder("compiled", store)
    decoded = dec.decode([buf.getvalue()])
    assert decoded.fallbacks == [0]
    row = rows_of(decoded, 1)[0]
    assert (row["objectId"], row["candid"], row["schemavsn"], row["prv"]) == ("ZTF1", 7, "v4_02", None)


def test_paths_the_writer_lacks_are_null_and_types_are_promoted() -> None:
    schema = fastavro.parse_schema({"type": "record", "name": "r", "fields": [
        {"name": "a", "type": "int"}, {"name": "skip", "type": {"type": "map", "values": "string"}},
        {"name": "b", "type": ["null", "float"]}, {"name": "items", "type": {"type": "array", "items": {
            "type": "record", "name": "i", "fields": [{"name": "x", "type": "long"}]}}}]})
    projection = Projection((Column("a", "a", "double"), Column("b", "b", "double"), Column("c", "c", "string")),
                            (ListColumn("items", "items", (Column("x", "x", "long"), Column("y", "y", "int"))),))
    t = Target("t", projection)
    dec = ColumnarDecoder([t], lambda ws: "t")
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [{"a": 3, "skip": {"k": "v"}, "b": 1.5, "items": [{"x": 1}, {"x": -2}]}])
    decoded = dec.decode([buf.getvalue()])
    items = [{"x": 1, "y": None}, {"x": -2, "y": None}]
    assert rows_of(decoded, 1) == [{"a": 3.0, "b": 1.5, "c": None, "items": items}]
    assert compile_plan(schema, projection).absent == ["c"]


def test_without_the_extension_everything_still_works(tmp_path: Path) -> None:
    """A process where the compiled module cannot load: the stream's decoder falls back to fastavro
    for every packet and gives the same batch."""
    script = """
import sys
from msb.avro import columnar
import msb.avro._columns as compiled_module
assert compiled_module.is_compiled()
pure = columnar.pure_engine()
sys.modules["msb.avro._columns"] = pure
for name in [m for m in sys.modules if m.startswith("msb.") and m not in ("msb.avro._columns",)]:
    del sys.modules[name]
from msb.avro import columnar as again
assert not again.compiled()
from msb_stream.decode import BatchDecoder, DecodeSettings
from msb_stream import quality
from msb import paths
values = [p.read_bytes() for p in sorted(paths.ztf_night().glob("*.avro"))[:40]]
batch = BatchDecoder(DecodeSettings(quality=quality.conditions("fink"))).finish(
    BatchDecoder(DecodeSettings()).decode(values, {}))
print(batch.num_rows, sum(batch.column("quality_pass").to_pylist()), batch.column("error").null_count)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    from msb_stream import quality
    from msb_stream.decode import BatchDecoder, DecodeSettings

    values = [p.read_bytes() for p in sorted(paths.ztf_night().glob("*.avro"))[:40]]
    batch = BatchDecoder(DecodeSettings(quality=quality.conditions("fink"))).finish(
        BatchDecoder(DecodeSettings()).decode(values, {}))
    assert out.stdout.split() == [str(batch.num_rows), str(sum(batch.column("quality_pass").to_pylist())), "40"]


def test_one_plan_per_writer_schema(packets: list[bytes], store: SchemaStore) -> None:
    """One plan per distinct writer schema, compiled once: a handful for all of ../shared."""
    dec = make_decoder("compiled", store)
    dec.decode(packets)
    plans = {id(e.plan): e.plan for _, e in dec._headers} | {id(e.plan): e.plan for e in dec._by_schema.values()}
    assert 3 <= len(plans) <= 8
    assert all(p is not None and len(p.program) < 2000 for p in plans.values())
