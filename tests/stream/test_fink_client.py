"""Fink's own client reads msb's filter topics: PyPI fink-client (a dev dependency), unchanged.

``AlertConsumer`` in this process and the ``finkctl`` command as a subprocess (``auth register``,
``topic subscribe``, ``topic list``, ``stream --save``, with HOME in a temporary folder, where finkctl
keeps its configuration) read every Livestream topic of the ZTF night
and of the Rubin alerts, as the session's stream runs wrote them (tests/stream/conftest.py). What they
read must be msb's own records, field for field: the alert as msb received it (cutouts included) and
msb's fields as the ``processed`` contract has them for the same message; their counts must be the
stream summary's.

No credentials: the embedded broker (tansu 0.6.0) cannot run SCRAM (see README, "Subscribe"), and
``finkctl stream`` never sends any (fink-client 12.3.0 passes the password but not the username to
``AlertConsumer``, which turns SASL on only with both); SASL is covered by the chart's tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Consumer, TopicPartition
from fink_client.consumer import AlertConsumer

from msb import livestream, paths
from msb.avro import AlertDecoder, SchemaStore
from msb.kafka import consumer_config, wait_for_kafka
from msb.schemas import LIVESTREAM, field_names
from msb.topics import livestream_topics
from tests.stream.helpers import FILTERS, candid_of, consume_all, livestream_record

FINKCTL = str(Path(sys.executable).with_name("finkctl"))
SURVEYS = ("ztf", "lsst")
# tansu holds a consumer group join for session.timeout.ms / 2: 22.5 s with Fink's client defaults.
READ_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def published(fink_run: dict[str, Any], rubin_run: dict[str, Any]) -> dict[str, dict[str, int]]:
    """survey -> {Livestream topic: messages the stream summary says it published} for both runs."""
    ztf, rubin = fink_run["summary"], rubin_run["summary"]
    out: dict[str, dict[str, int]] = {"ztf": {}, "lsst": {}}
    for summary, filters, survey in ((ztf, FILTERS, "ztf"), (rubin, ["rubin_high_reliability", "known_sso"], "lsst")):
        for f in filters:
            topic = next(t for t in summary.topics.filters[f] if t.endswith(f"_{survey}"))
            out[survey][topic] = summary.topic_counts[topic]
            assert summary.filters[f] == summary.topic_counts[topic]  # one survey per run: the filter's count
    assert all(n > 0 for topics in out.values() for n in topics.values())
    return out


@pytest.fixture(scope="module")
def processed(broker: Any, fink_run: dict[str, Any], rubin_run: dict[str, Any]) -> dict[tuple[str, int, int],
                                                                                      dict[str, Any]]:
    """(input topic, partition, offset) -> msb's processed record of that message (both runs)."""
    dec = AlertDecoder()
    out = {}
    for summary in (fink_run["summary"], rubin_run["summary"]):
        for m in consume_all(broker.bootstrap, summary.topics.processed):
            p = dec.decode(m.value())
            out[(p["topic"], p["partition"], p["offset"])] = p
    return out


@pytest.fixture(scope="module")
def msb_records(broker: Any, processed: dict[tuple[str, int, int], dict[str, Any]], ztf_topic: str,
                rubin_run: dict[str, Any]) -> dict[tuple[str, int, int], dict[str, Any]]:
    """(input topic, partition, offset) of every alert msb published -> the record a subscriber must get:
    the input message's alert, decoded by fastavro, with msb's fields as its processed record has them."""
    dec = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    alerts = {(source, m.partition(), m.offset()): m.value() for source in (ztf_topic, rubin_run["topic"])
              for m in consume_all(broker.bootstrap, source)}
    return {at: {**dec.decode(alerts[at]), "msb_filters": p["filters"], "msb_night": p["night"],
                 "msb_topic": p["topic"], "msb_partition": p["partition"], "msb_offset": p["offset"],
                 "msb_sent_ns": p["msb_sent_ns"]} for at, p in processed.items()}


def expected_of(rec: dict[str, Any], msb_records: dict[tuple[str, int, int], dict[str, Any]]) -> dict[str, Any]:
    """msb's record of the message a Livestream record came from (its msb_topic/partition/offset)."""
    return msb_records[(rec["msb_topic"], rec["msb_partition"], rec["msb_offset"])]


def filter_of(topic: str) -> str:
    return re.fullmatch(r".*fink_(.+)_(ztf|lsst)", topic)[1]


def topics_of(rec: dict[str, Any], topics: dict[str, int]) -> list[str]:
    """The Livestream topics (of ``topics``) msb published a record to: its run's, for each filter it passed."""
    return [t for t in topics if t.startswith(rec["msb_topic"] + "-") and filter_of(t) in rec["msb_filters"]]


def finkctl(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real ``finkctl`` of the venv, its configuration under ``home``; fails with its output."""
    done = subprocess.run([FINKCTL, *args], env={**os.environ, "HOME": str(home)}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"finkctl {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def finkctl_session(home: Path, outdir: Path, survey: str, total: int) -> dict[str, Any]:
    """``finkctl stream -survey S --save -limit N`` until it has read N alerts and exited (committing
    its group's offsets as it closes)."""
    env = {**os.environ, "HOME": str(home)}
    with open(home / "stream.log", "w") as log:
        proc = subprocess.Popen([FINKCTL, "stream", "-survey", survey, "--save", "-outdir", str(outdir), "-limit",
                                 str(total)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(READ_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"error": f"finkctl stream -survey {survey} read fewer than {total} alerts in {READ_TIMEOUT_S} s: "
                             + (home / "stream.log").read_text()[-2000:]}
    if rc != 0:
        return {"error": f"finkctl stream exit {rc}: " + (home / "stream.log").read_text()[-3000:]}
    return {}


def committed(bootstrap: str, group: str, topics: list[str]) -> dict[str, tuple[int, int]]:
    """topic -> (offsets the group committed, messages left after them), over its partitions: what
    ``finkctl stream --display_statistics`` prints, read without joining the group (tansu holds a
    join 22.5 s; the statistics command joins before it asks)."""
    c = Consumer(consumer_config(bootstrap, group))
    try:
        meta = c.list_topics(timeout=10).topics
        out = {}
        for t in topics:
            done, left = 0, 0
            for tp in c.committed([TopicPartition(t, p) for p in meta[t].partitions], timeout=30):
                high = c.get_watermark_offsets(tp, timeout=10)[1]
                done += max(tp.offset, 0)
                left += high - max(tp.offset, 0)
            out[t] = (done, left)
        return out
    finally:
        c.close()


@pytest.fixture(scope="module")
def finkctl_streams(broker: Any, published: dict[str, dict[str, int]],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Per survey, ``finkctl auth register`` and ``finkctl topic subscribe`` for each topic, then
    :func:`finkctl_session` started in a thread, for the tests to wait for. tansu holds each group
    join 22.5 s: both surveys' sessions run at once, beside AlertConsumer's test, so that the joins overlap."""
    runs = {}
    with ThreadPoolExecutor(len(SURVEYS)) as pool:
        for survey in SURVEYS:
            home = tmp_path_factory.mktemp(f"finkctl-{survey}")
            group = f"fink-test-{survey}-{uuid.uuid4().hex[:6]}"
            finkctl(home, "auth", "register", "-survey", survey, "-username", "msb-subscriber",
                    "-groupid", group, "-servers", broker.bootstrap, "-maxtimeout", "5")
            for topic in published[survey]:
                finkctl(home, "topic", "subscribe", "-survey", survey, "-name", topic)
            outdir = home / "alerts"
            session = pool.submit(finkctl_session, home, outdir, survey, sum(published[survey].values()))
            runs[survey] = {"home": home, "outdir": outdir, "session": session, "group": group}
        yield runs


def test_msb_topics_lists_the_livestream_topics_with_the_summary_counts(
        broker: Any, published: dict[str, dict[str, int]], fink_run: dict[str, Any]) -> None:
    prefix = fink_run["summary"].topics.processed[:-len("processed")]
    rows = {r.topic: r for r in livestream_topics(broker.bootstrap, prefix=prefix)}
    assert {t: r.messages for t, r in rows.items() if r.survey == "ztf"} == published["ztf"]
    assert {r.filter for r in rows.values()} == set(FILTERS)
    assert all(r.messages == 0 for r in rows.values() if r.survey == "lsst")  # the night has no Rubin alert
    done = subprocess.run([sys.executable, "-m", "msb.cli", "topics", "--bootstrap", broker.bootstrap, "--prefix",
                           prefix], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for topic, n in published["ztf"].items():
        assert re.search(rf"^{re.escape(topic)}\s+\S+\s+ztf\s+2\s+{n}$", done.stdout, re.M), done.stdout


def test_msb_consume_reads_a_livestream_topic(broker: Any, published: dict[str, dict[str, int]],
                                              msb_records: dict[tuple[str, int, int], dict[str, Any]]) -> None:
    topic, n = next((t, n) for t, n in published["lsst"].items() if "known_sso" in t)
    done = subprocess.run([sys.executable, "-m", "msb.cli", "consume", "--bootstrap", broker.bootstrap, "--topic",
                           topic, "--json", "--idle", "3"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"{n} alerts read from {topic}" in done.stderr, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    expected = {candid_of(r) for r in msb_records.values() if topics_of(r, {topic: n})}
    assert len(rows) == n and {r["candid"] for r in rows} == expected


def test_each_objects_alerts_share_one_partition_in_order(broker: Any, published: dict[str, dict[str, int]],
                                                         processed: dict[tuple[str, int, int], dict[str, Any]]) -> None:
    """The key is the schema, so msb picks the partition: Kafka's murmur2 of msb's objectId (ZTF's
    objectId, Rubin's diaObjectId or, without a diaObject, the diaSourceId), as an objectId-keyed
    message would have had; an object's alerts keep their input order there."""
    admin = wait_for_kafka(broker.bootstrap)
    used: Counter[int] = Counter()
    for topic in (t for topics in published.values() for t in topics):
        msgs = consume_all(broker.bootstrap, topic)
        parts = len(admin.list_topics(topic, timeout=10).topics[topic].partitions)
        assert parts == 2, topic
        used.update(m.partition() for m in msgs)
        last: dict[str, tuple[int, int]] = {}
        for m in msgs:  # consume_all: partition by partition, in offset order
            rec = livestream_record(m)
            object_id = processed[(rec["msb_topic"], rec["msb_partition"], rec["msb_offset"])]["objectId"]
            assert m.partition() == livestream.partition_for(object_id.encode(), parts), topic
            source = (rec["msb_partition"], rec["msb_offset"])
            assert source > last.get(object_id, (-1, -1)), f"{topic}: {object_id} out of order"
            last[object_id] = source
    assert min(used[0], used[1]) > 50  # both partitions hold many: the choice is a real one


def test_alert_consumer_reads_every_filter_topic(
        broker: Any, published: dict[str, dict[str, int]], msb_records: dict[tuple[str, int, int], dict[str, Any]],
        finkctl_streams: dict[str, dict[str, Any]]) -> None:
    """fink_client.consumer.AlertConsumer, as a Fink user builds it, decodes every message msb published."""
    topics = {t: n for survey in SURVEYS for t, n in published[survey].items()}
    config = {"bootstrap.servers": broker.bootstrap, "group.id": f"fink-test-{uuid.uuid4().hex[:8]}"}
    got: list[tuple[str, dict[str, Any], str]] = []
    with AlertConsumer(list(topics), config, survey="ztf") as consumer:
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(got) < sum(topics.values()) and time.monotonic() < deadline:
            got += [x for x in consumer.consume(num_alerts=200, timeout=2) if x[0] is not None]
    assert Counter(t for t, _, _ in got) == Counter(topics)
    # Exactly the messages msb published: each (topic, source message) once.
    expected = Counter((t, source) for source, rec in msb_records.items() for t in topics_of(rec, topics))
    assert Counter((t, (a["msb_topic"], a["msb_partition"], a["msb_offset"])) for t, a, _ in got) == expected
    extra = field_names(LIVESTREAM)
    for topic, alert, key in got:
        assert alert == expected_of(alert, msb_records), (topic, candid_of(alert))
        assert [f["name"] for f in json.loads(key)["fields"][-len(extra):]] == extra  # the schema itself


@pytest.mark.parametrize("survey", SURVEYS)
def test_finkctl_stream_saves_msb_records(survey: str, broker: Any, published: dict[str, dict[str, int]],
                                          msb_records: dict[tuple[str, int, int], dict[str, Any]],
                                          finkctl_streams: dict[str, dict[str, Any]]) -> None:
    """finkctl stream -survey ztf|lsst --save: it reads every message of the subscribed topics (its
    group's committed offsets are the summary's counts, nothing left) and saves each alert as msb holds it."""
    run = finkctl_streams[survey]
    session = run["session"].result(timeout=2 * READ_TIMEOUT_S)
    assert "error" not in session, session["error"]
    saved = {}
    for path in sorted(run["outdir"].glob("*.avro")):
        (rec,) = list(fastavro.reader(path.open("rb")))
        saved[path.name] = rec
        assert rec == expected_of(rec, msb_records), path.name
    published_ids = {candid_of(r) for r in msb_records.values() if topics_of(r, published[survey])}
    names = ({f"{r['objectId']}_{r['candid']}.avro" for r in saved.values()} if survey == "ztf" else
             {f"{r['diaSourceId']}.avro" for r in saved.values()})
    assert names == set(saved)  # finkctl's own naming: objectId_candid (ZTF), diaSourceId (Rubin)
    assert {candid_of(r) for r in saved.values()} == published_ids

    assert committed(broker.bootstrap, run["group"], list(published[survey])) == {
        t: (n, 0) for t, n in published[survey].items()}
    if survey == "ztf":  # Fink's list of Livestream topics comes from the broker (lsst's from Fink's web API)
        listed = finkctl(run["home"], "topic", "list", "-survey", survey).stdout
        assert all(re.search(rf"\|\s*{re.escape(t)}\s*\|\s*NO\s*\|", listed) for t in published[survey]), listed
