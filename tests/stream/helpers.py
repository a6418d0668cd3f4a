"""Producing real packets and reading topics back, for the stream tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition

from msb.avro import AlertDecoder
from msb.kafka import SEND_TIME_HEADER, ensure_topic, producer_config, wait_for_kafka


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
    rec = next(iter(fastavro.reader(__import__("io").BytesIO(value))))
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


def candids(bootstrap: str, topic: str) -> list[int]:
    """candid of every processed record in ``topic`` (duplicates kept)."""
    dec = AlertDecoder()
    return [dec.decode(m.value())["candid"] for m in consume_all(bootstrap, topic)]
