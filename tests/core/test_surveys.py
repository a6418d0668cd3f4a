"""The survey adapters own each packet layout: every registered adapter satisfies the SurveyAdapter
contract on real packets of its survey; summary(), the stream's rows and the crossmatch's view of a
raw alert are selections of the same flat row; no component recognises a survey by its field names."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from msb import paths
from msb.alert import Survey, cutouts, packet_info, summary, survey_of
from msb.avro import AlertDecodeError, AlertDecoder, SchemaStore
from msb.avro.schema import value_at
from msb.sources import Packet, iter_packets
from msb.surveys import ADAPTERS, SurveyAdapter, adapter_for, adapter_of, prefix_of, row, schema_id, target
from msb.surveys.common import CUTOUT_COLUMNS, SUMMARY_FIELDS, Routing
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


# Real packets of every registered survey (a new survey adds its folder here).
SAMPLES = {"ztf": paths.ztf_night, "rubin": paths.rubin_alerts}


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def alerts(request: pytest.FixtureRequest) -> list[tuple[Survey, dict, bytes]]:
    return _alerts(SAMPLES[request.param]())


def test_one_adapter_per_survey_and_real_packets_of_each() -> None:
    assert set(ADAPTERS) == {s.value for s in Survey} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_declares_the_whole_contract(name: str) -> None:
    """Each member of SurveyAdapter, with the protocol's parameters (a module is checked by name only
    by isinstance: the signatures are compared here)."""
    adapter = ADAPTERS[name]
    assert isinstance(adapter, SurveyAdapter) and adapter.NAME == name
    for member, spec in vars(SurveyAdapter).items():
        if callable(spec) and not member.startswith("_"):
            want = [p for p in inspect.signature(spec).parameters if p != "self"]
            assert list(inspect.signature(getattr(adapter, member)).parameters) == want, (name, member)
    assert adapter.PREFIX_FIELDS and adapter.ID_FIELDS and set(adapter.CUTOUTS) == set(CUTOUT_COLUMNS)
    assert {n for n, _ in adapter.COLUMNS} <= set(target(name).schema.names)


def test_each_adapter_owns_its_packets_facts(alerts: list[tuple[Survey, dict, bytes]]) -> None:
    """On real packets: one adapter writes the packet's schema and holds its id fields; routing from the
    leading fields equals routing from the decoded record; the id fields hold the alert id; the cutout
    fields hold the stamps; the survey's registry numbering is the schema folder's."""
    store = SchemaStore(paths.rubin_schemas())
    decoder = AlertDecoder(store)
    for survey, rec, data in alerts:
        adapter = ADAPTERS[survey]
        name = decoder.writer_schema(data)[0].name
        assert [a.NAME for a in ADAPTERS.values() if a.writes(name)] == [survey]  # one survey writes it
        assert adapter_of(name) is adapter_for(rec) is adapter
        info = packet_info(decoder, data)
        routing = adapter.routing(prefix_of(rec, adapter.PREFIX_FIELDS))
        assert isinstance(routing, Routing) and tuple(routing) == (info.alert_id, info.key, info.visit, info.jd)
        assert {value_at(rec, path) for path in adapter.ID_FIELDS} == {info.alert_id}
        stamps = cutouts(rec)
        assert set(stamps) == {"science", "template", "difference"}
        assert all(isinstance(v, bytes) and len(v) > 100 for v in stamps.values())
        sid = adapter.schema_id(name)
        assert sid == schema_id(name) and (sid is None or store.id_for(name) == sid)
    assert (schema_id("lsst.v10_0.alert"), schema_id("lsst_alert_v11_1_combined"), schema_id("ztf.alert")) == \
        (1000, 1101, None)


def test_a_flat_row_of_msbs_contracts_summarises_as_its_alert() -> None:
    """msb consume on processed or classified: a flat record's summary is its own columns."""
    _, rec, data = _alerts(paths.ztf_night(), 1)[0]
    flat = BatchDecoder(DecodeSettings()).decode([data], {}).to_pylist()[0]
    flat["reliability"] = summary(rec)["reliability"]
    assert summary(flat) == {**summary(rec), "band": flat["band"]}
    assert cutouts(flat) == {"science": None, "template": None, "difference": None}


def test_a_packet_of_no_known_survey_is_named_as_such() -> None:
    with pytest.raises(AlertDecodeError, match="unknown alert schema 'gaia.alert'"):
        adapter_of("gaia.alert")
    with pytest.raises(AlertDecodeError, match="not an alert of any known survey"):
        adapter_for({"sourceId": 1})


def test_the_replays_survey_facts_need_neither_numpy_nor_pyarrow(tmp_path: Path) -> None:
    """The replay's image has neither: packet_info and the fresh-ids rewrite work on both surveys
    with them unimportable."""
    code = f"""
import sys
for name in ('numpy', 'pyarrow', 'pandas'):
    sys.modules[name] = None  # importing it fails, as where it is not installed
from msb.alert import packet_info
from msb.avro import AlertDecoder, SchemaStore, with_new_ids
from msb.sources import iter_packets
from msb.surveys import ADAPTERS
decoder = AlertDecoder(SchemaStore({str(paths.rubin_schemas())!r}))
for folder in ({str(paths.ztf_night())!r}, {str(paths.rubin_alerts())!r}):
    packet = next(iter(iter_packets([folder])))
    info = packet_info(decoder, packet.data)
    fresh = with_new_ids(decoder, packet.data, dict.fromkeys(ADAPTERS[info.survey].ID_FIELDS, 7))
    print(info.survey, info.alert_id, packet_info(decoder, fresh).alert_id)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [ln.split() for ln in res.stdout.splitlines()]
    assert [(s, fresh) for s, _, fresh in lines] == [("ztf", "7"), ("rubin", "7")]
    assert all(int(alert_id) > 7 for _, alert_id, _ in lines)


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


ROOT = Path(__file__).resolve().parents[2]
# Field and schema names that tell surveys apart: only msb/surveys may use them as string literals (a
# literal that is one of them, a path or an id under one, or a schema name; English words are fine).
SURVEY_NAMES = ("diaSource", "diaObject", "candidate", "prv_candidates", "prvDiaSources", "ztf.alert", "topLevelRecord")
RUBIN_SCHEMA = re.compile(r"^lsst\.|lsst\.v\d|lsst_alert_v")


def _survey_names(text: str) -> set[str]:
    hits = {n for n in SURVEY_NAMES if text == n or text.startswith((f"{n}.", f"{n}Id")) or f'"{n}' in text}
    return hits | ({"lsst."} if RUBIN_SCHEMA.search(text) else set())
# Checked: every component, the app and the core but msb/surveys (string literals outside docstrings).
CHECKED = [ROOT / "services/replay/msb_replay", ROOT / "services/crossmatch/msb_crossmatch", ROOT / "spark/msb_stream",
           ROOT / "app/msb_app", ROOT / "msb"]
# Justified uses: path -> the literals it may hold, and why.
JUSTIFIED: dict[str, set[str]] = {}


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_no_survey_is_recognised_outside_its_adapter() -> None:
    """Surveys are told apart by their adapters only: no component, nor the app, nor the core outside
    msb/surveys (msb.alert, the Avro registry, the contracts...) holds a survey's field or schema names
    as string literals."""
    files = [p for c in CHECKED for p in sorted(c.rglob("*.py")) if ROOT / "msb/surveys" not in p.parents]
    assert len(files) > 50 and ROOT / "msb/alert.py" in files
    found = {}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        hits = {w for text in _literals(path) for w in _survey_names(text)} - JUSTIFIED.get(rel, set())
        if hits:
            found[rel] = sorted(hits)
    assert not found, f"survey facts outside msb/surveys: {found}"


def test_the_static_check_sees_a_survey_fact() -> None:
    assert [sorted(_survey_names(t)) for t in ("diaSource", "diaSource.visit", "lsst.v10_0.alert", "candidate.jd",
                                               "ztf.alert", "a candidate host", "diaSourceId")] == \
        [["diaSource"], ["diaSource"], ["lsst."], ["candidate"], ["ztf.alert"], [], ["diaSource"]]
