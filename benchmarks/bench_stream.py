"""Stream job throughput and latency (issue 3).

* >= 10,000 real-size ZTF alerts (the 2018-11-29 packets replicated with new candids) through the
  Spark job (local[2], Python Kafka source) next to a plain single-process confluent-kafka +
  fastavro loop doing the same decode, cut, filters and output encoding, in the same run;
* a 10,000-alert Rubin-size visit (the 47 real Rubin packets, ~180 KB, replicated) sent as one
  burst into the running job: time from its last send to the last alert processed, and the
  p50/p99 end-to-end latency (msb_sent_ns header -> outputs written).

Generated packets live in memory and in the embedded broker only, never in the repository.
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
import threading
import time
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition

from msb import paths
from msb.broker import EmbeddedBroker
from msb.kafka import SEND_TIME_HEADER, consumer_config, ensure_topic, producer_config, wait_for_kafka

N_ZTF = int(os.environ.get("MSB_BENCH_STREAM_N", "12000"))
BATCH = int(os.environ.get("MSB_BENCH_STREAM_BATCH", "4000"))  # maxOffsetsPerTrigger
N_VISIT = int(os.environ.get("MSB_BENCH_STREAM_VISIT", "10000"))
PARTITIONS = 2


def replicate(folder: Path, n: int, rubin: bool) -> list[tuple[bytes, bytes]]:
    """n (key, container packet) pairs: real packets re-written with fresh alert ids."""
    base = []
    for path in sorted(folder.glob("*.avro")):
        with path.open("rb") as fo:
            reader = fastavro.reader(fo)
            base.append((reader.writer_schema, next(iter(reader))))
    out = []
    for i in range(n):
        schema, rec = base[i % len(base)]
        rec = copy.copy(rec)
        new_id = 3_000_000_000_000_000_000 + i
        if rubin:
            rec["diaSourceId"] = new_id
            rec["diaSource"] = {**rec["diaSource"], "diaSourceId": new_id}
            key = str(rec["diaSource"]["diaObjectId"]).encode()
        else:
            rec["candid"] = new_id
            rec["candidate"] = {**rec["candidate"], "candid": new_id}
            key = rec["objectId"].encode()
        buf = io.BytesIO()
        fastavro.writer(buf, schema, [rec])
        out.append((key, buf.getvalue()))
    return out


def send(bootstrap: str, topic: str, msgs: list[tuple[bytes, bytes]]) -> float:
    """Produces everything (send-time header on each); returns the wall time of the last send."""
    producer = Producer(producer_config(bootstrap))
    last = 0.0
    for key, value in msgs:
        while True:
            try:
                header = [(SEND_TIME_HEADER, str(time.time_ns()).encode())]
                producer.produce(topic, value=value, key=key, headers=header)
                break
            except BufferError:
                producer.poll(0.05)
        last = time.time()
        producer.poll(0)
    assert producer.flush(120) == 0
    return last


def plain_loop(bootstrap: str, topic: str, n: int) -> float:
    """Single process: consume, decode, cut, filters, encode, produce the outputs. Returns alerts/s."""
    from msb.stream import filters, quality
    from msb.stream.decode import BatchDecoder, DecodeSettings

    from msb.kafka import sent_ns

    dec = BatchDecoder(DecodeSettings(quality=quality.conditions("fink"), filters=filters.select(None)))
    consumer = Consumer(consumer_config(bootstrap, group="msb-bench-plain"))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    producer = Producer(producer_config(bootstrap))
    done, t0 = 0, time.perf_counter()
    while done < n:
        msgs = [m for m in consumer.consume(min(500, n - done), timeout=5) if m.error() is None]
        meta = [{"topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                 "msb_sent_ns": sent_ns(m.headers())} for m in msgs]
        batch = dec.finish(dec.decode_rows([m.value() for m in msgs], meta))
        cols = batch.select(["objectId", "processed", "filters"]).to_pylist()
        for row in cols:
            if row["processed"] is not None:
                producer.produce("plain-processed", value=row["processed"], key=row["objectId"].encode())
                for f in row["filters"]:
                    producer.produce(f"plain-filter-{f}", value=row["processed"], key=row["objectId"].encode())
            producer.poll(0)
        done += len(msgs)
    producer.flush(60)
    consumer.close()
    return n / (time.perf_counter() - t0)


def main() -> None:
    from msb.stream.job import StreamConfig, StreamJob
    from msb.stream.session import build_session

    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="msb-bench-stream-") as tmp:
        b = broker.bootstrap
        admin = wait_for_kafka(b)
        for t in ("ztf", "rubin", "plain-processed", *(f"plain-filter-{n}" for n in
                  ("known_sso", "ps1_point_source", "is_transient", "bright_new_transient", "rubin_high_reliability"))):
            ensure_topic(admin, t, PARTITIONS)
        print(f"generating {N_ZTF} ZTF alerts...", flush=True)
        ztf = replicate(paths.ztf_night(), N_ZTF, rubin=False)
        mb = sum(len(v) for _, v in ztf) / 1e6
        send(b, "ztf", ztf)
        del ztf

        plain = plain_loop(b, "ztf", N_ZTF)
        print(f"plain loop: {plain:.0f} alerts/s", flush=True)

        spark = build_session("local[2]", "msb-bench")
        job = StreamJob(StreamConfig(bootstrap=b, topic="ztf", archive=f"{tmp}/a1", checkpoint=f"{tmp}/c1",
                                     quality="fink", available_now=True, metrics_port=None,
                                     max_offsets_per_trigger=BATCH, topic_prefix="bench-"))
        s = job.run()
        log = s["batch_log"]
        steady = sum(n for n, _ in log[1:]) / sum(d for _, d in log[1:]) if len(log) > 1 else s["input"] / s["seconds"]
        overall = s["input"] / s["seconds"]
        print(f"spark: {steady:.0f} alerts/s steady, {overall:.0f} overall; batches {log}", flush=True)

        # A Rubin-size visit into the running job.
        print(f"generating a {N_VISIT}-alert Rubin visit...", flush=True)
        visit = replicate(paths.rubin_alerts(), N_VISIT, rubin=True)
        visit_mb = sum(len(v) for _, v in visit) / 1e6
        job2 = StreamJob(StreamConfig(bootstrap=b, topic="rubin", archive=f"{tmp}/a2", checkpoint=f"{tmp}/c2",
                                      quality="rubin", starting_offsets="latest", metrics_port=None,
                                      trigger_seconds=0.5, topic_prefix="bench-rubin-"))
        runner = threading.Thread(target=job2.run, daemon=True)
        runner.start()
        while getattr(job2, "query", None) is None or not job2.query.recentProgress:
            time.sleep(0.2)
        first_send = time.time()
        last_send = send(b, "rubin", visit)
        while job2.totals["input"] < N_VISIT:
            time.sleep(0.05)
        done = time.time()
        job2.stop()
        runner.join(60)
        lat = sorted(job2.latencies)
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        spark.stop()

    ratio = steady / plain
    visit_row = (f"| Rubin-size visit: {N_VISIT:,} alerts ({visit_mb:,.0f} MB) sent in {last_send - first_send:.1f} s, "
                 f"all processed | {done - last_send:.1f} s after the last send | <= 30 s |")
    body = f"""
| measure | result | target |
|---|---|---|
| plain loop: 1 process, confluent-kafka + fastavro, same decode/cut/filters/outputs | {plain:,.0f} alerts/s | base |
| Spark job, `local[2]`, steady state (batches after the first) | {steady:,.0f} alerts/s ({ratio:.2f}x) | >= 0.8x |
| Spark job, whole run incl. first batch | {overall:,.0f} alerts/s | |
{visit_row}
| end-to-end latency in that visit (send -> outputs written), p50 / p99 | {p50:.1f} s / {p99:.1f} s | |

{N_ZTF:,} ZTF alerts ({mb:,.0f} MB, the 2018-11-29 packets replicated with new candids) in a
{PARTITIONS}-partition topic of the embedded broker. The Spark job writes the processed and filter
topics and the Parquet archive; the plain loop writes only the topics. Spark batches of up to
{BATCH:,} alerts (`maxOffsetsPerTrigger`; the first includes starting the Python workers), (alerts, s):
{log}.
"""
    from benchmarks.record import record

    record("stream", "Stream processor (Spark, issue 3)", "make bench BENCH=stream", body)


if __name__ == "__main__":
    main()
