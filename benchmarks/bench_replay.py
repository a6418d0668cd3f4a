"""Replay throughput next to a bare confluent-kafka producer (the ceiling), same bytes, same broker.

1. The real ZTF night (498 alerts) looped 10x: alerts/s and MB/s, replay vs bare.
2. One 10,000-alert Rubin-size visit (real Rubin packets re-keyed to one visit): seconds to deliver.
"""

from __future__ import annotations

import copy
import io
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import fastavro
from confluent_kafka import Producer

from benchmarks.record import record
from msb import kafka, paths
from msb.alert import packet_info
from msb.avro import AlertDecoder
from msb.broker import EmbeddedBroker, free_port, tansu_command, wait_for_port
from msb_replay.replay import ReplayConfig, run_replay

COMMAND = "make bench BENCH=replay"
VISIT_ALERTS = 10_000


def bare_producer(bootstrap: str, topic: str, packets: list[tuple[bytes, bytes]]) -> float:
    """Seconds for a plain producer to deliver (key, value) pairs; every report checked."""
    # The same topic layout the replay creates (ReplayConfig.partitions), made before the clock starts.
    kafka.ensure_topic(kafka.wait_for_kafka(bootstrap), topic, ReplayConfig.partitions)
    producer = Producer(kafka.producer_config(bootstrap))
    failed = 0

    def on_delivery(err, _msg) -> None:
        nonlocal failed
        failed += err is not None

    t0 = time.perf_counter()
    for key, value in packets:
        kafka.produce(producer, topic, value, key, on_delivery=on_delivery)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - t0
    assert failed == 0, f"{failed} bare deliveries failed"
    return elapsed


def tansu_direct_seconds(packets: list[tuple[bytes, bytes]]) -> float:
    """The bare producer straight into tansu, without msb's front: what the front costs the ceiling."""
    port = free_port()
    tansu = subprocess.Popen(tansu_command(port, f"127.0.0.1:{port}"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=tansu)
        return min(bare_producer(f"127.0.0.1:{port}", f"direct-{rep}", packets) for rep in range(2))
    finally:
        tansu.terminate()
        tansu.wait(10)


def replay_seconds(bootstrap: str, topic: str, data: list[Path], loops: int, expect: int) -> float:
    summary = run_replay(ReplayConfig(data=data, bootstrap=bootstrap, topic=topic, loops=loops, progress=False,
                                      metrics_port=None))
    assert summary.alerts == expect and summary.failed == 0, summary
    return summary.elapsed_s


def make_rubin_visit(folder: Path, n: int) -> list[Path]:
    """n real-size Rubin alerts of one visit: the 47 real packets re-keyed, cutouts kept."""
    originals = []
    for p in sorted(paths.rubin_alerts().glob("*.avro")):
        with p.open("rb") as fh:
            reader = fastavro.reader(fh)
            originals.append((reader.writer_schema, next(reader)))
    schema = fastavro.parse_schema(originals[0][0])
    out = []
    for i in range(n):
        rec = copy.copy(originals[i % len(originals)][1])
        rec["diaSource"] = dict(rec["diaSource"], visit=2026112400042, midpointMjdTai=61041.5)
        rec["diaSourceId"] = 9_000_000_000_000 + i
        buf = io.BytesIO()
        fastavro.writer(buf, schema, [rec])
        path = folder / f"{rec['diaSourceId']}.avro"
        path.write_bytes(buf.getvalue())
        out.append(path)
    return out


def main() -> None:
    decoder = AlertDecoder()
    night = sorted(paths.ztf_night().glob("*.avro"))
    night_packets = [(packet_info(decoder, p.read_bytes()).key, p.read_bytes()) for p in night]
    loops = 10
    n_night = len(night_packets) * loops
    night_mb = sum(len(v) for _, v in night_packets) * loops / 1e6
    os.environ.pop("MSB_PRODUCER_OPTIONS", None)  # the same default producer settings for both sides
    load = os.getloadavg()
    rows = []
    with EmbeddedBroker() as broker:
        bare_t, replay_t = [], []
        for rep in range(3):
            bare_t.append(bare_producer(broker.bootstrap, f"bare-night-{rep}", night_packets * loops))
            night_dir = [paths.ztf_night()]
            replay_t.append(replay_seconds(broker.bootstrap, f"replay-night-{rep}", night_dir, loops, n_night))
        b, r = statistics.median(bare_t), statistics.median(replay_t)
        rows.append(("ZTF night x10 (real packets)", n_night, night_mb, b, r))

    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="msb-bench-") as tmp:
        visit = make_rubin_visit(Path(tmp), VISIT_ALERTS)
        visit_packets = [(packet_info(decoder, p.read_bytes()).key, p.read_bytes()) for p in visit]
        visit_mb = sum(len(v) for _, v in visit_packets) / 1e6
        # Alternated, best of two each: the broker's first fill of memory must not favour either side.
        bare_t, replay_t = [], []
        for rep in range(2):
            bare_t.append(bare_producer(broker.bootstrap, f"bare-visit-{rep}", visit_packets))
            replay_t.append(replay_seconds(broker.bootstrap, f"replay-visit-{rep}", [Path(tmp)], 1, VISIT_ALERTS))
        b, r = min(bare_t), min(replay_t)
        direct = tansu_direct_seconds(visit_packets)
        rows.append((f"one Rubin-size visit ({VISIT_ALERTS:,} alerts)", VISIT_ALERTS, visit_mb, b, r))

    lines = [
        "| data | alerts | MB | bare producer | msb replay | replay / bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, n, mb, b, r in rows:
        lines.append(
            f"| {name} | {n:,} | {mb:,.0f} | {n / b:,.0f} alerts/s, {mb / b:,.0f} MB/s ({b:.2f} s) "
            f"| {n / r:,.0f} alerts/s, {mb / r:,.0f} MB/s ({r:.2f} s) | {b / r:.2f} |"
        )
    visit_s = rows[-1][4]
    body = "\n".join(lines) + (
        "\n\nBoth sides use the same producer settings (`msb.kafka.producer_config`) and the same embedded tansu "
        "broker in the same run; the bare producer sends bytes already in memory, the replay reads the files, "
        "finds each packet's key and visit, paces and checks every delivery report. Night figures are the median "
        "of 3 runs, visit figures the best of 2, bare and replay alternated. Both sides are bound by the embedded "
        "broker's ingest, so a ratio above 1 means the replay adds no measurable cost, not "
        "that it beats the ceiling; the bare loop, which has no per-alert work, keeps librdkafka's queue full and "
        "waits on it more; where the ratio is below 1 the replay's own work (reading, framing, pacing) competes "
        "for the same 2 cores as the broker.\n\n"
        f"The ceiling itself: the bare producer straight into tansu, without msb's Kafka-protocol front "
        f"(`msb broker` relays every byte to fix tansu's end offsets), same visit, best of 2: "
        f"{visit_mb / direct:,.0f} MB/s ({direct:.2f} s); through the front {visit_mb / rows[1][3]:,.0f} MB/s, "
        f"{rows[1][3] / direct:.2f}x the time. Load average at the start: "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.\n\n"
        f"Targets: replay >= 0.90x the bare ceiling; a 10,000-alert visit delivered in <= 5 s "
        f"(alert_stream's producer: 15.8 s). This run: {rows[0][3] / rows[0][4]:.2f}x and "
        f"{rows[1][3] / rows[1][4]:.2f}x; the visit took {visit_s:.2f} s."
    )
    record("replay", "Replay producer throughput", COMMAND, body)


if __name__ == "__main__":
    main()
