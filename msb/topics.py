"""``msb topics``: the Livestream (Fink-style) topics a broker holds, with their message counts.

A topic is listed when its name is what ``msb stream --distribution fink`` gives a filter (``--prefix``
+ ``--format``, by default ``fink_<filter>_<survey>``); its count is the sum over its partitions of
end - start offsets, what a subscriber starting from the beginning would read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from msb import livestream
from msb.cliutil import HelpFormatter
from msb.kafka import KafkaUnreachable, consumer_config, default_bootstrap, wait_for_kafka


@dataclass
class TopicCount:
    topic: str
    filter: str
    survey: str
    partitions: int
    messages: int


def livestream_topics(bootstrap: str, fmt: str = livestream.DEFAULT_TOPIC_FORMAT, prefix: str = "",
                      timeout: float = 10.0) -> list[TopicCount]:
    """Every topic of the broker named like a Livestream topic, with its message count (sorted by name)."""
    from confluent_kafka import Consumer, TopicPartition

    pattern = livestream.topic_pattern(livestream.check_format(fmt), prefix)
    meta = wait_for_kafka(bootstrap).list_topics(timeout=timeout).topics
    consumer = Consumer(consumer_config(bootstrap, group="msb-topics"))
    try:
        out = []
        for name in sorted(meta):
            m = pattern.match(name)
            if m is None or meta[name].error is not None:
                continue
            count = 0
            for p in meta[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
                count += max(high - low, 0)
            survey = m.groupdict().get("survey") or ""
            out.append(TopicCount(name, m["filter"], survey, len(meta[name].partitions), count))
        return out
    finally:
        consumer.close()


def table(rows: list[TopicCount]) -> str:
    width = max([len("topic"), *(len(r.topic) for r in rows)])
    lines = [f"{'topic':<{width}}  {'filter':<24} {'survey':<6} {'partitions':>10} {'messages':>9}"]
    lines += [f"{r.topic:<{width}}  {r.filter:<24} {r.survey:<6} {r.partitions:>10} {r.messages:>9}" for r in rows]
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "topics", help="list the Livestream (Fink-style) filter topics and their message counts",
        description="List the broker's Livestream topics, the filter topics `msb stream` writes in Fink's "
        "convention (--distribution fink, the default), with their partitions and message counts (end - start "
        "offsets: what a subscriber reading from the beginning gets). Fink's client reads them: "
        "finkctl auth register -servers BOOTSTRAP ..., finkctl topic subscribe -name TOPIC ..., finkctl stream.",
        formatter_class=HelpFormatter)
    p.add_argument("--bootstrap", default=default_bootstrap(), help="Kafka bootstrap servers (env MSB_BOOTSTRAP)")
    p.add_argument("--format", default=livestream.DEFAULT_TOPIC_FORMAT, metavar="FORMAT",
                   help="topic names as `msb stream --fink-topics` gives them: {filter}, {survey} (ztf or lsst)")
    p.add_argument("--prefix", default="", help="the stream's --topic-prefix")
    p.add_argument("--json", action="store_true", help="one JSON object per topic instead of a table")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        rows = livestream_topics(args.bootstrap, args.format, args.prefix)
    except (ValueError, KafkaUnreachable) as exc:
        print(f"msb topics: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for r in rows:
            print(json.dumps(asdict(r)))
    elif rows:
        print(table(rows))
    else:
        print(f"msb topics: no topic named like {args.prefix}{args.format} at {args.bootstrap}", file=sys.stderr)
    return 0
