"""The survey adapters own each packet layout: summary(), the stream's rows and the crossmatch's view
of a raw alert are selections of the same flat row, on real ZTF and Rubin packets."""

from __future__ import annotations

import pytest

from msb import paths
from msb.alert import Survey, summary, survey_of
from msb.avro import AlertDecoder, SchemaStore
from msb.sources import Packet, iter_packets
from msb.surveys import ADAPTERS, adapter_for, row
from msb.surveys.common import SUMMARY_FIELDS
from msb_crossmatch.records import input_decoder, read_inputs
from msb_stream.decode import BatchDecoder, DecodeSettings


def _alerts(folder, n: int = 40) -> list[tuple[Survey, dict, bytes]]:
    decoder = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    out = []
    for p in iter_packets([folder]):
        assert isinstance(p, Packet)
        out.append((survey_of(decoder.writer_schema(p.data)[0]), decoder.decode(p.data), p.data))
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module", params=["ztf", "rubin"])
def alerts(request: pytest.FixtureRequest) -> list[tuple[Survey, dict, bytes]]:
    return _alerts(paths.ztf_night() if request.param == "ztf" else paths.rubin_alerts())


def test_one_adapter_per_survey() -> None:
    assert set(ADAPTERS) == {s.value for s in Survey}


def test_summary_stream_row_and_crossmatch_view_come_from_one_row(
        alerts: list[tuple[Survey, dict, bytes]]) -> None:
    """A decoded dict through the adapter (notebooks, msb consume, the crossmatch's raw alerts) and the
    packet through the stream's columnar decoder give the same row."""
    stream = BatchDecoder(DecodeSettings(schema_dir=str(paths.rubin_schemas())))
    table = stream.decode([data for _, _, data in alerts], {}).to_pylist()
    views = read_inputs(input_decoder(SchemaStore(paths.rubin_schemas())), [data for _, _, data in alerts])
    assert not views.errors
    for (survey, rec, _), flat, view in zip(alerts, table, views.table.to_pylist(), strict=True):
        adapter = adapter_for(rec)
        assert adapter is ADAPTERS[survey]
        one = row(rec)
        assert {k: flat[k] for k in one} == one  # the stream's row is the adapter's, plus the night
        s = summary(rec)
        assert list(s) == list(SUMMARY_FIELDS)
        same = [k for k in SUMMARY_FIELDS if survey is Survey.RUBIN or k not in ("band", "reliability")]
        assert {k: s[k] for k in same} == {k: one[k] for k in same}
        # The crossmatch's view of a raw alert, typed as the processed contract types it.
        expected = {**s, "fid": one["fid"]}
        assert {k: view[k] for k in expected if k != "reliability"} == \
            {k: v for k, v in expected.items() if k != "reliability"}


def test_ztf_summary_names_the_band_and_the_best_real_bogus_score() -> None:
    survey, rec, _ = _alerts(paths.ztf_night(), 1)[0]
    cand = rec["candidate"]
    s = summary(rec)
    assert s["band"] == {1: "g", 2: "r", 3: "i"}[cand["fid"]]
    assert s["reliability"] == (cand["drb"] if cand.get("drb") is not None else cand["rb"])
