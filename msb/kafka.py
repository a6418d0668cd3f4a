"""Kafka settings shared by every component, so one code path runs against tansu and Strimzi.

Environment (all optional):
  MSB_BOOTSTRAP             bootstrap servers (default 127.0.0.1:9092)
  MSB_KAFKA_SECURITY_PROTOCOL, MSB_KAFKA_SASL_MECHANISM, MSB_KAFKA_SASL_USERNAME,
  MSB_KAFKA_SASL_PASSWORD   credentials, e.g. from a Strimzi KafkaUser Secret
  MSB_KAFKA_OPTIONS         extra librdkafka settings "k=v,k=v" for producers and consumers
  MSB_PRODUCER_OPTIONS      extra librdkafka settings for producers only
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
SEND_TIME_HEADER = "msb_sent_ns"  # wall-clock ns at send, for end-to-end latency downstream


def sent_ns(headers: Iterable[tuple[str, bytes | None]] | Iterable[dict[str, Any]] | None) -> int | None:
    """The replay's send time (wall-clock ns) from message headers, or None.

    Takes confluent-kafka's ``[(key, value)]`` or Spark's ``[{"key": ..., "value": ...}]``; the value is
    ASCII decimal (what msb writes) or 8-byte big-endian.
    """
    for header in headers or ():
        key, value = (header["key"], header["value"]) if isinstance(header, dict) else header
        if key == SEND_TIME_HEADER and value:
            try:
                return int(value) if value.isdigit() else int.from_bytes(value, "big")
            except ValueError:
                return None
    return None


class KafkaUnreachable(RuntimeError):
    """The bootstrap servers did not answer."""


def default_bootstrap() -> str:
    return os.environ.get("MSB_BOOTSTRAP", DEFAULT_BOOTSTRAP)


def parse_options(text: str | None) -> dict[str, str]:
    """'a=1,b=2' -> {'a': '1', 'b': '2'}."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"Kafka option {item!r} is not key=value")
            out[key.strip()] = value.strip()
    return out


def client_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap}
    env = os.environ
    if env.get("MSB_KAFKA_SECURITY_PROTOCOL"):
        conf["security.protocol"] = env["MSB_KAFKA_SECURITY_PROTOCOL"]
    if env.get("MSB_KAFKA_SASL_USERNAME"):
        conf["sasl.mechanism"] = env.get("MSB_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        conf["sasl.username"] = env["MSB_KAFKA_SASL_USERNAME"]
        conf["sasl.password"] = env.get("MSB_KAFKA_SASL_PASSWORD", "")
    conf.update(parse_options(env.get("MSB_KAFKA_OPTIONS")))
    conf.update(overrides)
    return conf


# SASL mechanism -> the Java client's JAAS login module.
_JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def java_client_config(conf: dict[str, Any]) -> dict[str, str]:
    """librdkafka settings (what :func:`client_config` returns) as the Java Kafka client's.

    Spark's native ``kafka`` source and sink use the Java client, which has no ``sasl.username`` /
    ``sasl.password`` / ``ssl.ca.location``: credentials go in ``sasl.jaas.config`` and the CA
    in a PEM truststore. Other keys pass through (both clients share most names).
    """
    out = {k: str(v) for k, v in conf.items()
           if k not in ("sasl.username", "sasl.password", "ssl.ca.location")}
    if "sasl.username" in conf:
        mechanism = str(conf.get("sasl.mechanism", "SCRAM-SHA-512")).upper()
        if mechanism not in _JAAS_MODULES:
            raise ValueError(f"SASL mechanism {mechanism!r}: the Java client needs one of {', '.join(_JAAS_MODULES)}")

        def quoted(v: Any) -> str:
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

        out["sasl.jaas.config"] = (f"{_JAAS_MODULES[mechanism]} required username={quoted(conf['sasl.username'])} "
                                   f"password={quoted(conf.get('sasl.password', ''))};")
    if "ssl.ca.location" in conf:
        out["ssl.truststore.type"] = "PEM"
        out["ssl.truststore.location"] = str(conf["ssl.ca.location"])
    return out


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """A producer tuned for 60-180 KB alert packets sent in bursts."""
    conf = client_config(
        bootstrap,
        **{
            "linger.ms": 10,
            "batch.size": 4 * 1024 * 1024,
            "queue.buffering.max.kbytes": 1024 * 1024,
            "queue.buffering.max.messages": 500_000,
            "message.max.bytes": 10 * 1024 * 1024,
            "compression.type": "none",  # cutouts are gzipped FITS already
            "acks": "all",
            "message.timeout.ms": 60_000,
            "retry.backoff.ms": 200,
            "retry.backoff.max.ms": 5_000,
        },
    )
    conf.update(parse_options(os.environ.get("MSB_PRODUCER_OPTIONS")))
    conf.update(overrides)
    return conf


def produce(producer: Any, topic: str, value: bytes | None, key: bytes | None = None,
            headers: list[tuple[str, bytes]] | None = None, on_delivery: Any = None,
            partition: int | None = None) -> None:
    """``producer.produce``, waiting for deliveries to drain while librdkafka's local queue is full
    (BufferError) instead of failing: bursts of large packets fill it by design. ``partition``: an
    explicit one (else the producer's partitioner picks it from the key)."""
    chosen = {} if partition is None else {"partition": partition}
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery, **chosen)
            return
        except BufferError:
            producer.poll(0.05)


def consumer_config(bootstrap: str, group: str | None = None, **overrides: Any) -> dict[str, Any]:
    conf = client_config(
        bootstrap,
        **{
            "group.id": group or "msb-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        },
    )
    conf.update(overrides)
    return conf


def wait_for_kafka(bootstrap: str, attempts: int = 3, first_wait: float = 0.5) -> AdminClient:
    """An admin client once the cluster answers; retries with doubling backoff, then a clear error."""
    admin = AdminClient(client_config(bootstrap))
    wait = first_wait
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            admin.list_topics(timeout=wait + 1)
            return admin
        except KafkaException as exc:
            last = exc
            if attempt + 1 < attempts:
                time.sleep(wait)
                wait *= 2
    raise KafkaUnreachable(f"Kafka at {bootstrap} is unreachable after {attempts} attempts: {last}")


def ensure_topic(admin: AdminClient, topic: str, partitions: int, replication: int = 1) -> bool:
    """Creates the topic if missing; True if it was created."""
    if topic in admin.list_topics(timeout=10).topics:
        return False
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=replication)])
    try:
        futures[topic].result(timeout=30)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
        return False
    return True
