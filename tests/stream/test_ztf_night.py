"""The 2018-11-29 ZTF night through the stream job: cuts, filters, outputs, dead letters, metrics."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pyarrow.parquet as pq
from prometheus_client.parser import text_string_to_metric_families

from msb.avro import AlertDecoder
from msb.schemas import PROCESSED, field_names
from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import real_frame
from tests.stream.helpers import FILTERS, candids, consume_all, filter_candids, livestream_record, produce, run, ztf_key


def test_fink_counts_match_the_packets(fink_run: dict[str, Any], night: dict[str, Any], broker: Any) -> None:
    s = fink_run["summary"]
    assert len(night["fink"]) == 291
    assert s.input == 501 and s.decoded == 498 and s.dead_letters == 3
    assert s.quality_passed == 291
    assert s.batches >= 3  # 501 messages, at most 200 per trigger
    archive = pq.read_table(fink_run["tmp"] / "archive")
    assert sorted(archive["candid"].to_pylist()) == sorted(night["fink"])
    assert {str(n) for n in archive["night"].to_pylist()} == {"20181129"}
    assert set(candids(broker.bootstrap, s.topics.processed)) == night["fink"]


def test_each_filter_topic_holds_exactly_its_alerts(fink_run: dict[str, Any], night: dict[str, Any],
                                                    broker: Any) -> None:
    s = fink_run["summary"]
    frame = real_frame("ztf")
    passed = frame[frame["candid"].isin(night["fink"])]
    for name in FILTERS:
        expected = set(passed.loc[load(BUILTIN_DIR / name / "filter.py")(passed), "candid"])
        ztf, lsst = s.topics.filters[name]  # the Livestream topics fink_<name>_ztf / _lsst
        assert (ztf, lsst) == (f"{s.topics.processed[:-len('processed')]}fink_{name}_ztf",
                               f"{s.topics.processed[:-len('processed')]}fink_{name}_lsst")
        got = candids(broker.bootstrap, ztf)
        assert sorted(got) == sorted(expected), name
        assert candids(broker.bootstrap, lsst) == []  # no Rubin alert in the night
        assert s.filters[name] == s.topic_counts[ztf] == len(expected)
    # Known asteroids, straight from the packets: within the fink cut, and 145 over the whole night.
    assert len(night["sso"]) == 145
    assert set(filter_candids(broker.bootstrap, s.topics.filters["known_sso"])) == night["sso"] & night["fink"]


def test_container_distribution_keeps_the_filter_topics_of_processed_records(
        spark: Any, broker: Any, night: dict[str, Any], tmp_path: Path) -> None:
    """--distribution container: filter-<name> topics holding the processed records, key objectId."""
    topic = f"container-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [(ztf_key(v), v) for v in night["values"][:60]], partitions=1)
    s = run(broker, topic, tmp_path, "fink", metrics_port=None, distribution="container")
    assert s.topics.filters["known_sso"] == [f"{topic}-fink-filter-known_sso"]
    msgs = consume_all(broker.bootstrap, s.topics.filters["known_sso"][0])
    assert len(msgs) == s.filters["known_sso"] > 0
    dec = AlertDecoder()
    for m in msgs:
        rec = dec.decode(m.value())  # a one-record container of the processed contract
        assert set(rec) == set(field_names(PROCESSED)) and m.key().decode() == rec["objectId"]
        assert "known_sso" in rec["filters"]


def test_processed_records_follow_the_contract(fink_run: dict[str, Any], broker: Any) -> None:
    msgs = consume_all(broker.bootstrap, fink_run["summary"].topics.processed)
    schema = json.loads(PROCESSED.read_text())
    dec = AlertDecoder()
    for m in msgs[:20]:
        rec = dec.decode(m.value())  # a one-record container with the schema in its header
        assert set(rec) == {f["name"] for f in schema["fields"]}
        assert m.key().decode() == rec["objectId"] and rec["survey"] == "ztf"
        sent = dict(m.headers())["msb_sent_ns"]
        assert int(sent) == rec["msb_sent_ns"] > 0
        assert rec["nbad"] == 0 and rec["rb"] >= 0.55


def test_corrupt_messages_become_dead_letters(fink_run: dict[str, Any], broker: Any, ztf_topic: str) -> None:
    letters = [json.loads(m.value()) for m in consume_all(broker.bootstrap, fink_run["summary"].topics.dead_letters)]
    assert len(letters) == 3
    assert {d["topic"] for d in letters} == {ztf_topic}
    reasons = " | ".join(d["reason"] for d in letters)
    assert "neither an Avro container" in reasons and "empty message" in reasons and "truncated" in reasons
    for d in letters:  # topic/partition/offset lead back to the original message
        assert isinstance(d["partition"], int) and isinstance(d["offset"], int)


def test_metrics_scraped(fink_run: dict[str, Any]) -> None:
    s = fink_run["summary"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=5).read().decode()
    samples = {(x.name, tuple(sorted(x.labels.items()))): x.value
               for fam in text_string_to_metric_families(text) for x in fam.samples}

    def v(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert v("msb_stream_input_rows_total") == 501
    assert v("msb_stream_processed_rows_total") == 498
    assert v("msb_stream_quality_passed_total") == 291
    assert v("msb_stream_dead_letters_total") == 3
    assert v("msb_stream_decode_fallbacks_total") == 0 == s.decode_fallbacks  # every packet ran its compiled plan
    assert v("msb_stream_batches_total") == s.batches
    assert v("msb_stream_batch_duration_seconds_count") == s.batches
    for name in FILTERS:
        assert v("msb_stream_filter_alerts_total", filter=name) == s.filters[name]
    assert v("msb_stream_end_to_end_latency_seconds_count") == 291
    assert v("msb_stream_end_to_end_latency_seconds_sum") > 0
    assert v("msb_stream_executors") == 1
    assert v("msb_stream_input_rows_per_second") >= 0 and v("msb_stream_processed_rows_per_second") > 0
    lags = {k: val for k, val in samples.items() if k[0] == "msb_stream_partition_lag_messages"}
    assert len(lags) == 2 and all(val == 0 for val in lags.values())  # drained


def test_ztf_pure_counts(spark: Any, broker: Any, ztf_topic: str, night: dict[str, Any], tmp_path: Path) -> None:
    assert len(night["ztf-pure"]) == 70
    s = run(broker, ztf_topic, tmp_path, "ztf-pure", metrics_port=None)
    assert s.quality_passed == 70
    archive = pq.read_table(tmp_path / "archive")
    assert sorted(archive["candid"].to_pylist()) == sorted(night["ztf-pure"])
    assert sorted(candids(broker.bootstrap, s.topics.processed)) == sorted(night["ztf-pure"])


def test_packets_the_plan_cannot_read_go_through_fastavro_and_are_counted(
        spark: Any, broker: Any, night: dict[str, Any], tmp_path: Path) -> None:
    """A container of two records takes the fastavro path (its first record, counted as a fallback); a
    deflate container runs the compiled plan; both are decoded and cut like any other packet, and
    republished on the Livestream topic as that first record (the deflated datum inflated)."""
    plugins = tmp_path / "plugins" / "everything"
    plugins.mkdir(parents=True)
    (plugins / "filter.py").write_text("COLUMNS = {'ztf': ('survey',)}\n\n\ndef keep(alerts):\n"
                                       "    return alerts['survey'] == 'ztf'\n")
    recs = [next(iter(fastavro.reader(io.BytesIO(v)))) for v in night["values"][:2]]
    schema = fastavro.reader(io.BytesIO(night["values"][0])).writer_schema
    two, deflate = io.BytesIO(), io.BytesIO()
    fastavro.writer(two, schema, recs)
    fastavro.writer(deflate, schema, recs[1:], codec="deflate")
    topic = f"fallback-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [(b"a", two.getvalue()), (b"b", deflate.getvalue()),
                                      (b"c", night["values"][2])], partitions=1)
    s = run(broker, topic, tmp_path, "none", metrics_port=None, filters=["everything"],
            filters_dir=[str(plugins.parent)])
    assert (s.input, s.decoded, s.dead_letters, s.decode_fallbacks) == (3, 3, 0, 1)
    published = [livestream_record(m) for m in consume_all(broker.bootstrap, s.topics.filters["everything"][0])]
    first = {r["candid"]: r for r in [*recs, next(iter(fastavro.reader(io.BytesIO(night["values"][2]))))]}
    assert sorted(r["candid"] for r in published) == sorted(first)
    for r in published:
        assert {k: v for k, v in r.items() if not k.startswith("msb_")} == first[r["candid"]]
    archive = pq.read_table(tmp_path / "archive")
    assert sorted(archive["candid"].to_pylist()) == sorted([recs[0]["candid"], recs[1]["candid"],
                                                            ztf_candid(night["values"][2])])
    assert "1 by fastavro" in "\n".join(s.lines())


def ztf_candid(value: bytes) -> int:
    return next(iter(fastavro.reader(io.BytesIO(value))))["candid"]
