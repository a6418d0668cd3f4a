"""msb.livestream: Fink's Livestream convention (topic names, the partitioner, the extended schema) and
``msb topics``, checked against the real things: librdkafka's partitioner, fastavro's encoder."""

from __future__ import annotations

import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from msb import livestream, paths
from msb.avro import AlertDecoder, SchemaStore
from msb.cli import main
from msb.kafka import ensure_topic, wait_for_kafka
from msb.topics import livestream_topics


def test_partition_for_is_kafkas_default_partitioner(broker: Any) -> None:
    """librdkafka's murmur2_random partitioner (the Java client's default for keyed messages) picks, for
    each key, the partition partition_for computes."""
    topic = f"murmur-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(broker.bootstrap), topic, 7)
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 24))) for _ in range(400)]
    keys += [b"ZTF18acsbjxh", b"169813005919846484", b"a", b"ab", b"abc", b"abcd"]
    chosen: dict[bytes, int] = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    for key in keys:
        producer.produce(topic, b"x", key=key, on_delivery=lambda err, m: chosen.__setitem__(m.key(), m.partition()))
    assert producer.flush(30) == 0
    assert len({chosen[k] for k in keys}) == 7
    assert {k: chosen[k] for k in keys} == {k: livestream.partition_for(k, 7) for k in keys}


@pytest.fixture(scope="module")
def alerts(ztf_night: Path, rubin_dir: Path) -> list[tuple[Any, bytes, dict[str, Any]]]:
    """(writer schema, datum, record) of a ZTF and a Rubin packet."""
    dec = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    out = []
    for path in (sorted(ztf_night.glob("*.avro"))[0], sorted(rubin_dir.glob("*.avro"))[0]):
        ws, datum = dec.writer_schema(path.read_bytes())
        out.append((ws, bytes(datum), dec.read(ws, datum)))
    return out


EXTRA = [{"name": "msb_filters", "type": {"type": "array", "items": "string"}, "default": []},
         {"name": "msb_sent_ns", "type": ["null", "long"], "default": None}]


def test_the_extended_datum_is_the_alerts_datum_then_the_extra_fields(alerts: list[Any]) -> None:
    """fastavro encodes a record of the extended schema as the alert's own datum followed by the extra
    fields' encoding: what msb publishes without re-encoding the alert. Fink's client reads it back."""
    extra_schema = fastavro.parse_schema({"type": "record", "name": "extra", "fields": EXTRA})
    for ws, datum, record in alerts:
        key = livestream.schema_key(livestream.extended_schema(ws.parsed, EXTRA))
        parsed = fastavro.schema.parse_schema(json.loads(key))  # what AlertConsumer does with the key
        extras = {"msb_filters": ["known_sso", "x"], "msb_sent_ns": 1_700_000_000_123_456_789}
        whole, tail = io.BytesIO(), io.BytesIO()
        fastavro.schemaless_writer(whole, parsed, {**record, **extras})
        fastavro.schemaless_writer(tail, extra_schema, extras)
        assert whole.getvalue() == datum + tail.getvalue()
        assert fastavro.schemaless_reader(io.BytesIO(datum + tail.getvalue()), parsed, None) == {**record, **extras}
        assert json.loads(key)["name"] == ws.parsed["name"]  # the survey's own record name, kept


def test_extended_schema_refuses_a_field_the_alert_has(alerts: list[Any]) -> None:
    ws = alerts[0][0]
    with pytest.raises(ValueError, match="already has field.*candid"):
        livestream.extended_schema(ws.parsed, [{"name": "candid", "type": "long"}])


def test_topic_names_and_the_pattern_that_recognises_them() -> None:
    assert livestream.topic_name("fink_{filter}_{survey}", "known_sso", "rubin", "p-") == "p-fink_known_sso_lsst"
    assert livestream.topic_set(["a_b"]) == {"a_b": ["fink_a_b_ztf", "fink_a_b_lsst"]}
    assert livestream.topic_set(["a"], "msb.{filter}") == {"a": ["msb.a"]}  # no {survey}: one topic
    m = livestream.topic_pattern(prefix="p-").match("p-fink_known_sso_lsst")
    assert m is not None and (m["filter"], m["survey"]) == ("known_sso", "lsst")
    assert livestream.topic_pattern().match("processed") is None
    assert livestream.topic_pattern().match("fink_x_ztfx") is None
    for bad, reason in (("fink_{name}", "only {filter} and {survey}"), ("fink_{survey}", "must contain {filter}"),
                        ("fink {filter}", "not a legal Kafka topic name")):
        with pytest.raises(ValueError, match=reason.replace("{", r"\{").replace("}", r"\}")):
            livestream.check_format(bad)


def test_msb_topics_counts_each_livestream_topic(broker: Any, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    admin = wait_for_kafka(broker.bootstrap)
    for topic, parts in ((f"{prefix}fink_a_ztf", 3), (f"{prefix}fink_a_lsst", 1), (f"{prefix}processed", 1)):
        ensure_topic(admin, topic, parts)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(11):
        producer.produce(f"{prefix}fink_a_ztf", b"v", key=str(i).encode())
    assert producer.flush(30) == 0
    rows = livestream_topics(broker.bootstrap, prefix=prefix)
    assert [(r.topic, r.filter, r.survey, r.partitions, r.messages) for r in rows] == [
        (f"{prefix}fink_a_lsst", "a", "lsst", 1, 0), (f"{prefix}fink_a_ztf", "a", "ztf", 3, 11)]
    assert main(["topics", "--bootstrap", broker.bootstrap, "--prefix", prefix, "--json"]) == 0
    assert [json.loads(line)["messages"] for line in capsys.readouterr().out.splitlines()] == [0, 11]


def test_msb_topics_and_stream_name_a_bad_topic_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "--bootstrap", "127.0.0.1:1", "--format", "fink_{name}"]) == 2
    assert "msb topics: topic format 'fink_{name}': only {filter} and {survey}" in capsys.readouterr().err
    assert main(["stream", "--bootstrap", "127.0.0.1:1", "--topic", "raw", "--archive", str(tmp_path / "a"),
                 "--checkpoint", str(tmp_path / "c"), "--fink-topics", "fink_{survey}"]) == 2
    assert "msb stream: topic format 'fink_{survey}' must contain {filter}" in capsys.readouterr().err


def test_livestream_reader_reads_as_fink_does_and_names_bad_messages(alerts: list[Any]) -> None:
    ws, datum, record = alerts[1]
    key = livestream.schema_key(livestream.extended_schema(ws.parsed, EXTRA))
    tail = io.BytesIO()
    fastavro.schemaless_writer(tail, fastavro.parse_schema({"type": "record", "name": "e", "fields": EXTRA}),
                               {"msb_filters": ["f"], "msb_sent_ns": None})
    reader = livestream.LivestreamReader()
    assert reader.is_livestream(key) and not reader.is_livestream(b"ZTF18acsbjxh") and not reader.is_livestream(None)
    assert reader.read(key, datum + tail.getvalue()) == {**record, "msb_filters": ["f"], "msb_sent_ns": None}
    with pytest.raises(ValueError, match="the key is not an Avro schema"):
        reader.read(b"{not json", datum)
    with pytest.raises(ValueError, match="the value is not a datum of the key's schema"):
        reader.read(key, datum[:100])
