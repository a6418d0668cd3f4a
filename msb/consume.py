"""``msb consume``: read alerts back from a topic, as a table or JSON lines, with cutout PNGs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from msb import kafka
from msb.cliutil import HelpFormatter

COLUMNS = ("objectId", "candid", "jd", "ra", "dec", "magpsf", "band", "reliability")


@dataclass
class Received:
    message: Message
    value: bytes
    sent_ns: int | None


def read_topic(bootstrap: str, topic: str, idle_s: float = 5.0, max_messages: int | None = None,
               group: str | None = None, follow: bool = False) -> Iterator[Received]:
    """Every message of ``topic`` from the beginning, until ``idle_s`` passes with nothing new.

    Without a group, all partitions are assigned directly (no group join, no committed offsets).
    """
    consumer = Consumer(kafka.consumer_config(bootstrap, group, **{"session.timeout.ms": 6000}))
    try:
        if group:
            consumer.subscribe([topic])
        else:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise SystemExit(f"msb consume: topic {topic!r} does not exist at {bootstrap}")
            consumer.assign([TopicPartition(topic, p, -2) for p in sorted(meta.partitions)])  # -2: beginning
        seen = 0
        last = time.monotonic()
        while follow or time.monotonic() - last < idle_s:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    print(f"msb consume: {msg.error()}", file=sys.stderr)
                    continue
                last = time.monotonic()
                yield Received(msg, msg.value(), kafka.sent_ns(msg.headers()))
                seen += 1
                if max_messages is not None and seen >= max_messages:
                    return
    finally:
        consumer.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "consume",
        help="print the alerts in a topic (table or JSON lines), optionally as cutout PNGs",
        description="Read a topic from the beginning and print one line per alert. Stops when nothing new "
        "arrives for --idle seconds (or never, with --follow). With --cutouts DIR each alert's science, "
        "template and difference stamps are written as one PNG. Reads Avro containers, the Confluent wire "
        "format and the Livestream topics (fink_<filter>_<survey>: the key is the schema).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--bootstrap", default=kafka.default_bootstrap(), help="Kafka bootstrap servers (env MSB_BOOTSTRAP)")
    p.add_argument("--topic", default="raw", help="topic to read")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument("--cutouts", type=Path, metavar="DIR", help="write <objectId>_<candid>.png per alert here")
    p.add_argument("--max", type=int, metavar="N", help="stop after N alerts")
    p.add_argument("--idle", type=float, default=5.0, metavar="SECONDS", help="stop after this long with nothing new")
    p.add_argument("--follow", action="store_true", help="keep reading until interrupted")
    p.add_argument("--group", help="read as this consumer group (default: assign every partition, no group)")
    p.add_argument("--schemas", type=Path, metavar="DIR", help="writer schemas for Confluent wire-format alerts")
    p.add_argument("--schema-registry", metavar="URL", help="schema registry for Confluent wire-format alerts")
    p.set_defaults(func=_run)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5f}" if abs(value) < 1e6 else f"{value:.6f}"
    return "-" if value is None else str(value)


def _run(args: argparse.Namespace) -> int:
    from msb.alert import cutouts, summary
    from msb.avro import AlertDecodeError, AlertDecoder, SchemaStore
    from msb.livestream import LivestreamReader

    if args.cutouts:  # PNG stamps need the `cutouts` extra (numpy, pillow, astropy); reading does not
        from msb.cutouts import write_cutouts
    schemas = SchemaStore(args.schemas, args.schema_registry) if (args.schemas or args.schema_registry) else None
    decoder = AlertDecoder(schemas)
    livestream = LivestreamReader()  # Livestream topics (fink_<filter>_<survey>): the key is the schema
    widths = (14, 20, 15, 10, 10, 8, 5, 6)
    if not args.json:
        print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    n = bad = 0
    for rec in read_topic(args.bootstrap, args.topic, args.idle, args.max, args.group, args.follow):
        try:
            key = rec.message.key()
            alert = livestream.read(key, rec.value) if livestream.is_livestream(key) else decoder.decode(rec.value)
            row = summary(alert)  # an alert of no known survey is undecodable too
        except (AlertDecodeError, ValueError) as exc:
            bad += 1
            print(f"undecodable message at {args.topic}[{rec.message.partition()}]@{rec.message.offset()}: {exc}",
                  file=sys.stderr)
            continue
        n += 1
        if args.cutouts:
            write_cutouts(args.cutouts, str(row["objectId"]), row["candid"], cutouts(alert))
        if args.json:
            row.update(partition=rec.message.partition(), offset=rec.message.offset(), sent_ns=rec.sent_ns)
            print(json.dumps(row))
        else:
            print("  ".join(_fmt(row[c]).ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    print(f"{n} alerts read from {args.topic}" + (f", {bad} undecodable" if bad else "")
          + (f", cutouts in {args.cutouts}" if args.cutouts and n else ""), file=sys.stderr)
    return 0
