"""Producing real packets and reading topics back, for the stream tests."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition

from msb.avro import MAGIC, AlertDecoder
from msb.kafka import SEND_TIME_HEADER, ensure_topic, producer_config, wait_for_kafka

# The ZTF filters the night runs with.
FILTERS = ["known_sso", "ps1_point_source", "is_transient", "bright_new_transient"]


def fink(c: dict[str, Any]) -> bool:
    """Fink's production cut on a ZTF candidate."""
    return c["nbad"] == 0 and c["rb"] is not None and c["rb"] >= 0.55 and c["fid"] != 3


def ztf_pure(c: dict[str, Any]) -> bool:
    return (c["rb"] is not None and c["rb"] >= 0.65 and c["nbad"] == 0 and c["fwhm"] <= 5 and c["elong"] <= 1.2
            and abs(c["magdiff"]) <= 0.1)


def run(broker: Any, topic: str, tmp: Path, quality: str, **kw: Any) -> Any:
    """The stream job on ``topic`` with the ZTF filters, outputs prefixed ``<topic>-<quality>-``."""
    from msb_stream.job import StreamConfig, run_stream

    cfg = StreamConfig(bootstrap=broker.bootstrap, topic=topic, archive=str(tmp / "archive"),
                       checkpoint=str(tmp / "ckpt"), quality=quality, available_now=True,
                       topic_prefix=f"{topic}-{quality}-", **{"metrics_port": 0, "filters": FILTERS, **kw})
    return run_stream(cfg)


def packets(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("*.avro"))]


def produce(bootstrap: str, topic: str, values: list[tuple[bytes | None, bytes]], partitions: int = 2) -> None:
    """(key, value) pairs with the send-time header, as the replay sends them."""
    ensure_topic(wait_for_kafka(bootstrap), topic, partitions)
    producer = Producer(producer_config(bootstrap))
    failed: list[Any] = []
    for key, value in values:
        producer.produce(topic, value=value, key=key, headers=[(SEND_TIME_HEADER, str(time.time_ns()).encode())],
                         on_delivery=lambda err, _m: failed.append(err) if err else None)
        producer.poll(0)
    assert producer.flush(60) == 0 and not failed, failed


def ztf_key(value: bytes) -> bytes:
    rec = next(iter(fastavro.reader(io.BytesIO(value))))
    return rec["objectId"].encode()


def consume_all(bootstrap: str, topic: str) -> list[Any]:
    """Every message of every partition of ``topic`` (assign, no consumer group)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "msb-test-reader", "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        out = []
        for p in meta.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            c.assign([TopicPartition(topic, p, low)])
            got: list[Any] = []
            deadline = time.monotonic() + 30
            while len(got) < high - low and time.monotonic() < deadline:
                got += [m for m in c.consume(high - low - len(got), timeout=1) if m.error() is None]
            assert len(got) == high - low, f"{topic}[{p}]: read {len(got)} of {high - low}"
            out += got
        return out
    finally:
        c.close()


def livestream_record(msg: Any) -> dict[str, Any]:
    """A Livestream message read as Fink's client reads it: the key is the schema, the value its datum."""
    schema = fastavro.schema.parse_schema(json.loads(msg.key()))
    return fastavro.schemaless_reader(io.BytesIO(msg.value()), schema, None)


def record(dec: AlertDecoder, msg: Any) -> dict[str, Any]:
    """A message of msb's output topics: a one-record container, or a Livestream datum keyed by its schema."""
    if msg.value()[:4] == MAGIC:
        return dec.decode(msg.value())
    return livestream_record(msg)


def candid_of(rec: dict[str, Any]) -> int:
    """candid of a processed record or a ZTF alert; diaSourceId of a Rubin alert."""
    return rec["candid"] if "candid" in rec else rec["diaSourceId"]


def candids(bootstrap: str, topic: str) -> list[int]:
    """candid of every record in ``topic``, in either of msb's formats (duplicates kept)."""
    dec = AlertDecoder()
    return [candid_of(record(dec, m)) for m in consume_all(bootstrap, topic)]


def filter_candids(bootstrap: str, topics: list[str]) -> list[int]:
    """candid of every record of a filter's topics (the fink distribution has one per survey)."""
    return [c for t in topics for c in candids(bootstrap, t)]
