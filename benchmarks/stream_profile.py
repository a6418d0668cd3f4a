"""Where a stream task's time goes per alert, stage by stage, on real-size packets from Kafka.

The stages a Spark task runs (kafka_source.read_range -> decode.BatchDecoder -> outputs.TaskWriter),
called one after another in this process on the same messages and timed in CPU seconds
(``time.process_time``: less disturbed than wall time when other work shares the cores).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

STAGES = ("Kafka fetch (confluent-kafka messages)", "header (writer schema)", "Avro decode (fastavro)",
          "flat row (dict per alert)", "Arrow/pandas + cut + filters", "encode processed (Avro)",
          "produce + flush + Parquet stage")


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def profile(bootstrap: str, topic: str, n: int, quality: str, schemas: str | None) -> dict[str, float]:
    """Microseconds of CPU per alert for each stage (STAGES), over the first n messages of partition 0."""
    from confluent_kafka import Consumer, TopicPartition

    from msb.alert import survey_of
    from msb.kafka import consumer_config, producer_config, sent_ns
    from msb.stream import filters
    from msb.stream import quality as q
    from msb.stream.decode import BatchDecoder, DecodeSettings, stream_row
    from msb.stream.kafka_source import KafkaRange, read_messages
    from msb.stream.outputs import OutputSettings, TaskWriter, settings_option

    probe = Consumer(consumer_config(bootstrap, group="msb-profile"))
    n = min(n, probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    probe.close()
    opts = {"kafka.bootstrap.servers": bootstrap}
    chunks, fetch = _cpu(lambda: list(read_messages(opts, KafkaRange(topic, 0, 0, n))))
    msgs = [m for chunk in chunks for m in chunk]
    values = [m.value() for m in msgs]
    meta = [{"topic": topic, "partition": 0, "offset": m.offset(), "msb_sent_ns": sent_ns(m.headers())} for m in msgs]
    dec = BatchDecoder(DecodeSettings(quality=q.conditions(quality), filters=filters.select(None), schema_dir=schemas))
    dec.finish(dec.decode_rows(values[:20], meta[:20]))  # warm caches (schemas, filters)
    heads, header = _cpu(lambda: [dec.decoder.writer_schema(v) for v in values])
    recs, decode = _cpu(lambda: [dec.decoder.read(ws, d) for ws, d in heads])
    _, flat = _cpu(lambda: [stream_row(r, survey_of(ws)) for r, (ws, _) in zip(recs, heads, strict=True)])
    rows = dec.decode_rows(values, meta)
    passed = [r for r in rows if r.get("error") is None]
    _, encode_all = _cpu(lambda: [dec.encoder.encode({**r, "filters": []}) for r in passed])
    batch, finish = _cpu(lambda: dec.finish(rows))
    n_passed = sum(1 for x in batch.column("quality_pass").to_pylist() if x)
    encode = encode_all * n_passed / max(len(passed), 1)  # finish encodes only what passed the cut
    with tempfile.TemporaryDirectory(prefix="msb-profile-") as tmp:
        option = settings_option(OutputSettings(producer=producer_config(bootstrap), processed="profile-processed",
                                                dead_letters="profile-dead", filter_prefix="profile-filter-",
                                                staging=tmp))

        def write() -> None:
            w = TaskWriter(option)
            w.add(batch)
            list(w.finish(batch.column("night").to_pylist()))

        _, out = _cpu(write)
    per = [fetch, header, decode, flat, finish - encode, encode, out]
    return {stage: 1e6 * s / len(values) for stage, s in zip(STAGES, per, strict=True)}


def table(ztf: dict[str, float], rubin: dict[str, float]) -> str:
    rows = ["| stage | ZTF µs/alert | share | Rubin µs/alert | share |", "|---|---:|---:|---:|---:|"]
    zt, rt = sum(ztf.values()), sum(rubin.values())
    for s in STAGES:
        rows.append(f"| {s} | {ztf[s]:,.0f} | {ztf[s] / zt:.0%} | {rubin[s]:,.0f} | {rubin[s] / rt:.0%} |")
    rows.append(f"| **total per alert, one core** | **{zt:,.0f}** | | **{rt:,.0f}** | |")
    rows.append(f"| two cores at this cost, no Spark or broker: at most (alerts/s) | {2e6 / zt:,.0f} | | "
                f"{2e6 / rt:,.0f} | |")
    return "\n".join(rows)
