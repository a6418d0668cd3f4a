"""Every alert in ../shared decodes, in both wire formats, and matches the manifests."""

from __future__ import annotations

import csv
import io
import tarfile
import tracemalloc
from pathlib import Path

import fastavro
import pytest

from msb import paths
from msb.alert import Survey, packet_info, summary
from msb.avro import AlertDecodeError, AlertDecoder, SchemaStore, frame_confluent
from msb.sources import Packet, iter_packets


@pytest.fixture(scope="module")
def decoder(shared: Path) -> AlertDecoder:
    return AlertDecoder(SchemaStore(paths.rubin_schemas()))


def _manifest(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as fh:
        return {Path(row.get("file") or "").name or row["diaSourceId"]: row for row in csv.DictReader(fh)}


def test_every_ztf_alert_decodes_and_matches_manifest(shared: Path, decoder: AlertDecoder) -> None:
    manifest = _manifest(shared / "data/ztf/alerts_manifest.csv")
    seen = 0
    for item in iter_packets([shared / "data/ztf/alerts"]):
        assert isinstance(item, Packet), item
        row = manifest[Path(item.source).name]
        alert = decoder.decode(item.data)
        reference = next(fastavro.reader(io.BytesIO(item.data)))  # the slow, obvious decoder
        assert alert == reference
        s = summary(alert)
        assert (s["objectId"], str(s["candid"])) == (row["objectId"], row["candid"])
        assert s["ra"] == pytest.approx(float(row["ra"])) and s["dec"] == pytest.approx(float(row["dec"]))
        info = packet_info(decoder, item.data)
        assert info.survey is Survey.ZTF and info.key == row["objectId"].encode()
        assert info.jd == pytest.approx(float(row["jd"])) and str(info.alert_id) == row["candid"]
        seen += 1
    assert seen == len(manifest) == 748


def test_every_rubin_alert_decodes_in_both_wire_formats(shared: Path, decoder: AlertDecoder) -> None:
    manifest = _manifest(shared / "data/lsst/alerts_manifest.csv")
    rubin = [p for p in iter_packets([paths.rubin_alerts()]) if isinstance(p, Packet)]
    assert len(rubin) == len(manifest) == 47
    for item in rubin:
        alert = decoder.decode(item.data)
        row = manifest[str(alert["diaSourceId"])]
        info = packet_info(decoder, item.data)
        assert info.survey is Survey.RUBIN
        # Solar-system sources have diaObjectId 0: they are keyed by their own diaSourceId.
        expected_key = row["diaObjectId"] if row["diaObjectId"] not in ("", "0") else row["diaSourceId"]
        assert info.key == expected_key.encode()
        assert alert["diaSource"]["midpointMjdTai"] == pytest.approx(float(row["midpointMjdTai"]))
        ws, datum = decoder.writer_schema(item.data)
        confluent = frame_confluent(1000, datum)
        assert confluent[0] == 0 and int.from_bytes(confluent[1:5], "big") == 1000
        assert decoder.decode(confluent) == alert  # schema 1000 from the local Rubin schema folder


def test_rubin_sample_alerts_of_both_schema_versions(shared: Path, decoder: AlertDecoder) -> None:
    for version in ("10.0", "11.1"):
        data = (paths.rubin_schemas() / version / "sample_data/fakeAlert.avro").read_bytes()
        alert = decoder.decode(data)
        assert packet_info(decoder, data).schema_name == f"lsst.v{version.replace('.', '_')}.alert"
        assert summary(alert)["candid"] == alert["diaSourceId"]


def test_ztf_401_with_fp_hists_decodes(shared: Path, decoder: AlertDecoder, tmp_path: Path) -> None:
    """ZTF 4.x adds forced-photometry history (fp_hists); none ships, so one is written with the real schema."""
    schema = fastavro.schema.load_schema(shared / "data/ztf/schema/ztf_alert_v4.02_combined.avsc")
    v33 = paths.ztf_night().parent / "ztf_public_20200101_v3.3"
    real = decoder.decode(next(v33.glob("*.avro")).read_bytes())
    fields = {f["name"]: f for f in schema["fields"]}
    assert "fp_hists" in fields
    cand_fields = {f["name"] for f in fields["candidate"]["type"]["fields"]}
    record = {"schemavsn": "4.01", "publisher": "ZTF (www.ztf.caltech.edu)", "objectId": real["objectId"],
              "candid": real["candid"], "candidate": {k: real["candidate"].get(k) for k in cand_fields},
              "prv_candidates": None, "fp_hists": [], "cutoutScience": None, "cutoutTemplate": None,
              "cutoutDifference": None}
    fp_type = next(t for t in fields["fp_hists"]["type"] if isinstance(t, dict))
    fp_fields = fp_type["items"]["fields"]
    record["fp_hists"] = [{f["name"]: None for f in fp_fields}]
    record["fp_hists"][0].update(field=1, rcid=2, fid=1, pid=1, rfid=1, jd=real["candidate"]["jd"], exptime=30.0,
                                 ranr=real["candidate"]["ra"], decnr=real["candidate"]["dec"],
                                 diffmaglim=20.5, programid=1, procstatus="0")
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [record], validator=False)
    alert = decoder.decode(buf.getvalue())
    assert alert["schemavsn"] == "4.01" and alert["fp_hists"][0]["procstatus"] == "0"
    assert packet_info(decoder, buf.getvalue()).alert_id == real["candid"]


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda b: b"hello, not avro", "neither an Avro container file nor Confluent"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:-20] + b"\x00" * 20, "sync marker"),
    ],
)
def test_bad_packets_raise_a_named_reason(ztf_night: Path, decoder: AlertDecoder, mangle, reason: str) -> None:
    data = mangle(next(iter(sorted(ztf_night.glob("*.avro")))).read_bytes())
    with pytest.raises(AlertDecodeError, match=reason):
        decoder.decode(data)


def test_confluent_needs_known_schema_id(decoder: AlertDecoder) -> None:
    with pytest.raises(AlertDecodeError, match="unknown schema id 4242"):
        decoder.decode(b"\x00" + (4242).to_bytes(4, "big") + b"\x02")


def test_tar_archive_streams_with_flat_memory(ztf_night: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ztf_public_20181129.tar.gz"
    originals = {p.name: p.read_bytes() for p in ztf_night.glob("*.avro")}
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(originals):
            tar.add(ztf_night / name, arcname=f"20181129/{name}")
    total = sum(map(len, originals.values()))
    tracemalloc.start()
    count = 0
    for item in iter_packets([archive]):
        assert isinstance(item, Packet)
        assert item.data == originals[Path(item.source).name]
        count += 1
        del item
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 498
    assert peak < total / 10, f"peak {peak} bytes for a {total}-byte archive: not streaming"
