"""The Kafka service end to end on the real alerts, with a real (tansu) broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from msb import kafka, livestream
from msb.avro import AlertDecoder
from msb.schemas import CLASSIFIED as SCHEMA_FILE
from msb.schemas import classified
from msb_crossmatch.match import Crossmatcher
from msb_crossmatch.records import missing_processed_fields
from msb_crossmatch.service import CrossmatchConfig, CrossmatchService

SESSION_MS = 6000  # tansu joins take session.timeout.ms / 2


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], partitions: int) -> None:
    """Sends every message with an msb_sent_ns header, as the replay does."""
    kafka.ensure_topic(kafka.wait_for_kafka(bootstrap), topic, partitions)
    p = Producer(kafka.producer_config(bootstrap))
    errors: list[str] = []
    for key, value in messages:
        p.produce(topic, value=value, key=key, headers=[(kafka.SEND_TIME_HEADER, str(time.time_ns()).encode())],
                  on_delivery=lambda e, m: e and errors.append(str(e)))
    assert p.flush(30) == 0 and not errors


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60) -> list:
    c = Consumer(kafka.consumer_config(bootstrap, f"reader-{time.time_ns()}", **{"session.timeout.ms": SESSION_MS}))
    c.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        batch = [m for m in c.consume(500, timeout=0.5) if m.error() is None]
        out.extend(batch)
        if len(out) >= expect:
            if quiet_since is None:
                quiet_since = time.monotonic()
            if not batch and time.monotonic() - quiet_since > 1.0:  # a moment more for duplicates
                break
    c.close()
    return out


def test_service_classifies_every_alert_with_the_output_contract(broker, store: Path, processed_messages,
                                                                 tmp_path: Path) -> None:
    topic_in, topic_out = f"processed-{time.time_ns()}", f"classified-{time.time_ns()}"
    produce(broker.bootstrap, topic_in, processed_messages, partitions=3)
    cfg = CrossmatchConfig(bootstrap=broker.bootstrap, topic=topic_in, out_topic=topic_out, group="xm-e2e",
                       catalogs=store, out=tmp_path / "out", http_port=0, http_host="127.0.0.1",
                       batch_size=100, session_timeout_ms=SESSION_MS, exit_when_idle=30, track_candids=True)
    svc = CrossmatchService(cfg)
    port = svc.start_api()
    try:
        summary = svc.run(stop_when=lambda s: len(s.candids) >= len(processed_messages))
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        svc.stop_api()
    assert summary.stopped_because == "stop condition met" and summary.bad_messages == 0
    msgs = read_all(broker.bootstrap, topic_out, len(processed_messages))
    dec = AlertDecoder()
    recs = [dec.decode(m.value()) for m in msgs]
    candids = {r["candid"] for r in recs}
    assert len(candids) == len(processed_messages) == 498
    names = {"gcvs", "vsx", "spicy", "gaia", "hipparcos", "openngc", "mangrove", "3hsp", "4lac"}
    for m, r in zip(msgs, recs, strict=True):
        assert m.key().decode() == r["objectId"]
        assert r["classification"] and all(f"xm_{n}" in r and f"xm_{n}_sep" in r for n in names)
        assert (r["xm_vsx"] is None) == (r["xm_vsx_sep"] is None)
        headers = dict(m.headers() or [])
        assert int(headers[kafka.SEND_TIME_HEADER]) == r["msb_sent_ns"] > 0  # carried through
    ss = [r for r in recs if r["ssdistnr"] is not None and 0 <= r["ssdistnr"] < 5]
    assert len({r["candid"] for r in ss}) == 145 and {r["classification"] for r in ss} == {"Solar System MPC"}
    table = pq.read_table(tmp_path / "out").to_pandas()
    assert set(table.candid) == candids and {"xm_vsx", "xm_vsx_sep", "classification"} <= set(table.columns)
    assert "msb_crossmatch_alerts_classified_total 498.0" in metrics
    assert 'msb_crossmatch_classifications_total{classification="Solar System MPC"} 145.0' in metrics
    assert 'msb_crossmatch_hit_rate_ratio{catalog="vsx"}' in metrics
    assert "msb_crossmatch_end_to_end_latency_seconds_count 498.0" in metrics
    assert 'msb_crossmatch_consumer_lag_messages{partition="0"} 0.0' in metrics
    assert "msb_crossmatch_batch_duration_seconds_count" in metrics
    assert SCHEMA_FILE.is_file()


def test_fink_distribution_publishes_classified_records_fink_client_reads(broker, store: Path,
                                                                          processed_messages) -> None:
    """--distribution fink: each classified record a schemaless datum keyed by the classified schema
    as JSON, on murmur2(objectId)'s partition; fink-client's AlertConsumer decodes every message."""
    from fink_client.consumer import AlertConsumer

    topic_in, topic_out = f"processed-{time.time_ns()}", f"classified-fink-{time.time_ns()}"
    messages = processed_messages[:60]
    produce(broker.bootstrap, topic_in, messages, partitions=3)
    cfg = CrossmatchConfig(bootstrap=broker.bootstrap, topic=topic_in, out_topic=topic_out, group="xm-fink",
                           catalogs=store, http_port=None, batch_size=25, session_timeout_ms=SESSION_MS,
                           exit_when_idle=30, track_candids=True, distribution="fink")
    summary = CrossmatchService(cfg).run(stop_when=lambda s: len(s.candids) >= len(messages))
    assert summary.stopped_because == "stop condition met"
    msgs = read_all(broker.bootstrap, topic_out, len(messages))
    schema = classified.with_catalogs(Crossmatcher.open(store).names)
    reader = AlertConsumer([], {"bootstrap.servers": broker.bootstrap, "group.id": "unused"}, survey="ztf")
    try:
        decoded = [reader.process_message(m) for m in msgs]  # Fink's own decoding, key -> schema
    finally:
        reader.close()
    assert {a["candid"] for _, a, _ in decoded} == {AlertDecoder().decode(v)["candid"] for _, v in messages}
    for m, (topic, alert, key) in zip(msgs, decoded, strict=True):
        assert topic == topic_out and json.loads(key) == schema and m.key() == livestream.schema_key(schema)
        assert set(alert) == {f["name"] for f in schema["fields"]} and alert["classification"]
        assert m.partition() == livestream.partition_for(alert["objectId"].encode(), 3)
        assert int(dict(m.headers())[kafka.SEND_TIME_HEADER]) == alert["msb_sent_ns"]


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    c = Consumer(kafka.consumer_config(bootstrap, group))
    try:
        offs = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
        return sum(max(tp.offset, 0) for tp in offs)
    finally:
        c.close()


def xmatch_cmd(bootstrap: str, topic_in: str, topic_out: str, group: str, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "msb.cli", "xmatch", "--bootstrap", bootstrap, "--topic", topic_in,
            "--out-topic", topic_out, "--group", group, "--catalogs", str(store), "--http-port", "-1",
            "--session-timeout-ms", str(SESSION_MS), *extra]


def test_kill_9_mid_run_then_restart_loses_nothing(broker, store: Path, processed_messages, tmp_path: Path) -> None:
    """At-least-once: a crash between delivery and commit may duplicate, never lose, a candid.
    After the kill, two replicas share the partitions and finish the topic."""
    topic_in, topic_out, group = f"p-{time.time_ns()}", f"c-{time.time_ns()}", f"xm-kill-{time.time_ns()}"
    n = len(processed_messages)
    produce(broker.bootstrap, topic_in, processed_messages, partitions=2)
    env = dict(os.environ)
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(xmatch_cmd(broker.bootstrap, topic_in, topic_out, group, store, "--batch-size", "3"),
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        done = 0
        while time.monotonic() < deadline and done == 0:
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            done = committed(broker.bootstrap, group, topic_in, 2)
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert 0 < done < n, f"the kill was not mid-run ({done} of {n} committed)"
    replicas = [subprocess.Popen(xmatch_cmd(broker.bootstrap, topic_in, topic_out, group, store, "--batch-size", "50",
                                            "--exit-when-idle", "10", "--out", str(tmp_path / f"r{i}")),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
                for i in range(2)]
    outputs = []
    for r in replicas:
        try:
            outputs.append(r.communicate(timeout=120)[0])
        finally:
            if r.poll() is None:
                r.kill()
    assert all(r.returncode == 0 for r in replicas), outputs
    assert committed(broker.bootstrap, group, topic_in, 2) == n
    recs = [AlertDecoder().decode(m.value()) for m in read_all(broker.bootstrap, topic_out, n)]
    assert {r["candid"] for r in recs} == {AlertDecoder().decode(v)["candid"] for _, v in processed_messages}
    assert len(recs) >= n  # duplicates allowed (dedup on candid), losses not
    assert sum("assigned partitions" in o for o in outputs) >= 2  # both replicas joined the group


def test_the_processed_contract_carries_what_the_crossmatch_reads() -> None:
    assert missing_processed_fields() == []
