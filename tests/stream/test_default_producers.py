"""msb stream reads everything any producer wrote to ``msb broker``, with no producer options set.

A plain confluent-kafka producer with default batching (linger.ms 5-50) and ``msb replay`` with its
defaults; read with Trigger.AvailableNow and with the continuous (processing-time) trigger.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from confluent_kafka import Producer

from msb.kafka import ensure_topic, wait_for_kafka
from msb_stream.job import StreamConfig, StreamJob, run_stream
from tests.replay.helpers import msb
from tests.stream.helpers import packets, ztf_key


def plain_produce(bootstrap: str, topic: str, values: list[bytes], linger_ms: int) -> None:
    ensure_topic(wait_for_kafka(bootstrap), topic, 2)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms})
    for v in values:
        producer.produce(topic, value=v, key=ztf_key(v))
        producer.poll(0)
    assert producer.flush(60) == 0


def config(broker: Any, topic: str, tmp: Path, **kw: Any) -> StreamConfig:
    return StreamConfig(bootstrap=broker.bootstrap, topic=topic, archive=str(tmp / "archive"),
                        checkpoint=str(tmp / "ckpt"), quality="none", filters=[], topic_prefix=f"{topic}-",
                        metrics_port=None, **kw)


def archived(tmp: Path) -> int:
    return pq.read_table(tmp / "archive").num_rows


def test_available_now_reads_a_batching_producer(spark: Any, broker: Any, ztf_night: Path, tmp_path: Path) -> None:
    values = packets(ztf_night)
    topic = f"plain-{uuid.uuid4().hex[:8]}"
    plain_produce(broker.bootstrap, topic, values, linger_ms=20)
    s = run_stream(config(broker, topic, tmp_path, available_now=True))
    assert s.input == len(values) == 498
    assert archived(tmp_path) == 498


def test_available_now_reads_msb_replay_defaults(spark: Any, broker: Any, ztf_night: Path, tmp_path: Path) -> None:
    topic = f"replay-{uuid.uuid4().hex[:8]}"
    done = msb("replay", "--bootstrap", broker.bootstrap, "--data", str(ztf_night), "--topic", topic,
               "--metrics-port", "0")
    assert done.returncode == 0, done.stderr
    s = run_stream(config(broker, topic, tmp_path, available_now=True))
    assert s.input == 498 and archived(tmp_path) == 498


def test_continuous_trigger_reads_a_batching_producer(spark: Any, broker: Any, ztf_night: Path,
                                                      tmp_path: Path) -> None:
    values = packets(ztf_night)
    topic = f"live-{uuid.uuid4().hex[:8]}"
    ensure_topic(wait_for_kafka(broker.bootstrap), topic, 2)
    job = StreamJob(config(broker, topic, tmp_path, available_now=False, trigger_seconds=0.5))
    runner = threading.Thread(target=job.run, daemon=True)
    runner.start()
    try:
        for chunk in (values[:150], values[150:380], values[380:]):  # visits arriving while it runs
            plain_produce(broker.bootstrap, topic, chunk, linger_ms=50)
            time.sleep(1)
        deadline = time.monotonic() + 120
        while job.summary.input < len(values) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        job.stop()
        runner.join(60)
    assert job.summary.input == 498
    assert archived(tmp_path) == 498
