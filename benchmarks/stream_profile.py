"""Where a stream task's time goes per alert, stage by stage, on real-size packets from Kafka.

The stages a Spark task runs (kafka_source.read_messages -> decode.BatchDecoder -> outputs.TaskWriter),
called one after another in this process on the same messages and timed in CPU seconds
(``time.process_time``: less disturbed than wall time when other work shares the cores).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

STAGES = ("Kafka fetch (confluent-kafka messages)", "message values and headers", "decode (columnar, compiled)",
          "survey columns (pyarrow.compute)", "quality cut + filters", "encode processed (Avro, column-wise)",
          "produce + flush + Parquet stage")


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def profile(bootstrap: str, topic: str, n: int, quality: str, schemas: str | None) -> dict[str, float]:
    """Microseconds of CPU per alert for each stage (STAGES), over the first n messages of partition 0."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from confluent_kafka import Consumer, TopicPartition

    from msb.kafka import consumer_config, producer_config, sent_ns
    from msb_stream import filters
    from msb_stream import quality as q
    from msb_stream.decode import BatchDecoder, DecodeSettings
    from msb_stream.kafka_source import KafkaRange, read_messages
    from msb_stream.outputs import OutputSettings, TaskWriter, settings_option

    probe = Consumer(consumer_config(bootstrap, group="msb-profile"))
    n = min(n, probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    probe.close()
    opts = {"kafka.bootstrap.servers": bootstrap}
    chunks, fetch = _cpu(lambda: list(read_messages(opts, KafkaRange(topic, 0, 0, n), chunk=n)))
    msgs = [m for chunk in chunks for m in chunk]
    dec = BatchDecoder(DecodeSettings(quality=q.conditions(quality), filters=filters.select(None), schema_dir=schemas))
    dec.messages(msgs[:20])  # warm caches (schemas, plans, filters)

    def values_and_meta() -> tuple[list[bytes], dict[str, Any]]:
        return [m.value() for m in msgs], {
            "topic": pa.array([m.topic() for m in msgs], pa.string()),
            "partition": pa.array([m.partition() for m in msgs], pa.int32()),
            "offset": pa.array([m.offset() for m in msgs], pa.int64()),
            "msb_sent_ns": pa.array([sent_ns(m.headers()) for m in msgs], pa.int64())}

    (values, meta), gather = _cpu(values_and_meta)
    _, decode = _cpu(lambda: dec.decoder.decode(values))
    table, decode_all = _cpu(lambda: dec.decode(values, meta))
    passed = table.filter(pc.fill_null(q.mask(table, dec.settings.quality), False))
    passed = passed.set_column(passed.schema.get_field_index("filters"), "filters",
                               pa.array([[]] * passed.num_rows, pa.list_(pa.string())))
    _, encode = _cpu(lambda: dec.encoder.encode(passed))
    batch, finish = _cpu(lambda: dec.finish(table))
    with tempfile.TemporaryDirectory(prefix="msb-profile-") as tmp:
        option = settings_option(OutputSettings(producer=producer_config(bootstrap), processed="profile-processed",
                                                dead_letters="profile-dead", filter_prefix="profile-filter-",
                                                staging=tmp))

        def write() -> None:
            w = TaskWriter(option)
            w.add(batch)
            list(w.finish())

        _, out = _cpu(write)
    per = [fetch, gather, decode, decode_all - decode, finish - encode, encode, out]
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
