"""The replay against a real tansu broker: completeness, bytes, order, pacing, metrics."""

from __future__ import annotations

import statistics
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from msb import kafka, paths
from msb.alert import packet_info
from msb.avro import AlertDecoder, SchemaStore
from msb.broker import EmbeddedBroker
from msb_replay.pacing import Pace
from msb_replay.replay import ReplayConfig, run_replay

from .helpers import files, read_all


def _replay(broker: EmbeddedBroker, topic: str, data: list[Path], **kw) -> object:
    cfg = ReplayConfig(data=data, bootstrap=broker.bootstrap, topic=topic, **{"progress": False, "metrics_port": None,
                                                                             **kw})
    return run_replay(cfg)


def _sent(r) -> float:
    """When the replay sent a message (its msb_sent_ns header, s): its pacing, whatever the broker's
    own append times (which a busy broker spreads)."""
    return kafka.sent_ns(r.message.headers()) / 1e9


def _visit_starts(received, decoder: AlertDecoder) -> dict[str, list[float]]:
    """Send times (s) of each visit's alerts."""
    by_visit: dict[str, list[float]] = defaultdict(list)
    for r in received:
        by_visit[packet_info(decoder, r.value).visit].append(_sent(r))
    return by_visit


def test_night_consumed_back_is_complete_byte_identical_and_ordered(broker, topic, ztf_night: Path) -> None:
    summary = _replay(broker, topic, [ztf_night], partitions=3)
    assert (summary.alerts, summary.visits, summary.skipped, summary.failed) == (498, 3, 0, 0)
    originals = {p.read_bytes(): p for p in files(ztf_night)}
    received = read_all(broker.bootstrap, topic)
    assert len(received) == 498
    assert {r.value for r in received} == set(originals)  # byte-identical, none missing, none extra
    decoder = AlertDecoder()
    sent_order = [packet_info(decoder, p.read_bytes()) for p in files(ztf_night)]  # the replay's order
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    got: dict[bytes, list[int]] = defaultdict(list)
    for r in sorted(received, key=lambda r: (r.message.partition(), r.message.offset())):
        info = packet_info(decoder, r.value)
        assert r.message.key() == info.key
        assert r.sent_ns is not None and r.sent_ns > 0
        partitions_of[info.key].add(r.message.partition())
        got[info.key].append(info.alert_id)
    want: dict[bytes, list[int]] = defaultdict(list)
    for info in sent_order:
        want[info.key].append(info.alert_id)
    assert got == want  # each object's alerts in send order
    assert all(len(p) == 1 for p in partitions_of.values())
    assert any(len(v) > 1 for v in want.values())  # the night has an object seen twice: order is tested


def test_visit_interval_sends_visits_as_bursts(broker, topic, ztf_night: Path) -> None:
    _replay(broker, topic, [ztf_night], pace=Pace("visit-interval", 1.5))
    starts = _visit_starts(read_all(broker.bootstrap, topic), AlertDecoder())
    assert len(starts) == 3
    firsts = sorted(min(ts) for ts in starts.values())
    gaps = [b - a for a, b in zip(firsts, firsts[1:], strict=False)]
    assert gaps == pytest.approx([1.5, 1.5], abs=0.35)
    for ts in starts.values():  # each visit goes out as one burst, well inside the interval
        assert max(ts) - min(ts) < 0.75


def test_speed_follows_the_nights_own_timing(broker, topic, ztf_night: Path) -> None:
    # The night's three exposures are 40 s apart: x40 makes them 1 s apart.
    _replay(broker, topic, [ztf_night], pace=Pace("speed", 40))
    firsts = sorted(min(ts) for ts in _visit_starts(read_all(broker.bootstrap, topic), AlertDecoder()).values())
    assert [b - a for a, b in zip(firsts, firsts[1:], strict=False)] == pytest.approx([1.0, 1.0], abs=0.3)


def test_rate_spreads_alerts_evenly(broker, topic, ztf_night: Path) -> None:
    summary = _replay(broker, topic, [ztf_night], pace=Pace("rate", 100), limit=150)
    assert summary.alerts == 150
    ts = sorted(_sent(r) for r in read_all(broker.bootstrap, topic))
    assert len(ts) == 150
    assert (len(ts) - 1) / (ts[-1] - ts[0]) == pytest.approx(100, rel=0.15)
    assert statistics.median(b - a for a, b in zip(ts, ts[1:], strict=False)) == pytest.approx(0.01, abs=0.005)


def test_loop_and_limit(broker, topic, ztf_night: Path) -> None:
    assert _replay(broker, topic, [ztf_night], loops=2).alerts == 996
    assert len(read_all(broker.bootstrap, topic)) == 996
    other = topic + "-limit"
    assert _replay(broker, other, [ztf_night], loops=None, limit=600).alerts == 600  # --forever --limit 600


def test_rubin_confluent_format(broker, topic, rubin_dir: Path) -> None:
    summary = _replay(broker, topic, [rubin_dir], wire_format="confluent")
    assert summary.alerts == 47 and summary.visits >= 8
    decoder = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    originals = {a["diaSourceId"]: a for a in (decoder.decode(p.read_bytes()) for p in files(rubin_dir))}
    received = read_all(broker.bootstrap, topic)
    assert all(r.value[0] == 0 and int.from_bytes(r.value[1:5], "big") == 1000 for r in received)
    decoded = {a["diaSourceId"]: a for a in (decoder.decode(r.value) for r in received)}
    assert decoded == originals


def test_metrics_equal_what_was_sent(broker, topic, ztf_night: Path, tmp_path: Path) -> None:
    bad = tmp_path / "0000_bad.avro"
    bad.write_bytes(b"not an alert")
    summary = _replay(broker, topic, [bad, ztf_night], metrics_port=0)
    body = urllib.request.urlopen(f"http://127.0.0.1:{summary.metrics_port}/metrics", timeout=5).read().decode()
    samples = {(s.name, s.labels.get("topic")): s.value
               for fam in text_string_to_metric_families(body) for s in fam.samples}
    sent_bytes = sum(p.stat().st_size for p in files(ztf_night))
    assert samples[("msb_replay_alerts_sent_total", topic)] == 498
    assert samples[("msb_replay_bytes_sent_total", topic)] == sent_bytes == summary.bytes
    assert samples[("msb_replay_visits_sent_total", topic)] == 3
    assert samples[("msb_replay_files_skipped_total", None)] == 1
    assert samples[("msb_replay_delivery_failures_total", topic)] == 0  # exported from the start
    assert samples[("msb_replay_delivery_latency_seconds_count", topic)] == 498
    assert kafka.SEND_TIME_HEADER  # the header named in the docs exists
