"""``msb stream``: the Spark stream processor's command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from msb import livestream
from msb.cliutil import HelpFormatter
from msb.kafka import default_bootstrap
from msb_stream import k8s

DESCRIPTION = """\
Read alerts from Kafka with Spark Structured Streaming, decode them (ZTF 3.x/4.x, Rubin 10.x/11.x;
Avro container or Confluent wire format), apply a quality cut and the user filters, and write:
the 'processed' topic (one-record Avro containers, schema msb/schemas/processed.avsc), the filters'
topics, a Parquet archive partitioned by night, and a dead-letter topic for undecodable messages.
A filter's alerts go by default to fink_<filter>_ztf / fink_<filter>_lsst in Fink's Livestream
convention, which Fink's client (finkctl, AlertConsumer) reads: the alert's own Avro datum with
msb's fields (msb/schemas/livestream.avsc) appended, keyed by its schema as JSON, on the partition
Kafka's default partitioner gives its objectId (one object's alerts stay in order).
Restart with the same --checkpoint to resume where it stopped: nothing is lost; Kafka outputs are
at-least-once (deduplicate on candid), the archive exactly-once."""

EPILOG = """\
quality presets: fink (nbad == 0, rb >= 0.55, fid != 3); ztf-pure (rb >= 0.65, nbad == 0, fwhm <= 5,
elong <= 1.2, |magdiff| <= 0.1); rubin (reliability >= 0.6); none. Edit thresholds with --cut.

examples:
  msb stream --bootstrap 127.0.0.1:9092 --topic ztf --quality fink --archive out/archive \\
      --checkpoint out/ckpt --available-now
  msb stream --topic rubin --quality rubin --schemas ../shared/data/lsst/schema --archive a --checkpoint c
  msb stream --master k8s://https://kubernetes.default.svc --executors 4 --image msb-stream:dev ...
"""


class _Formatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, description and examples kept as written."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument("--bootstrap", default=default_bootstrap(), help="Kafka bootstrap servers (env MSB_BOOTSTRAP)")
    g.add_argument("--topic", required=True, help="topic(s) to read, comma-separated")
    g.add_argument("--starting-offsets", default="earliest",
                   help="where a new checkpoint starts: earliest, latest, or JSON {\"topic\": {\"0\": offset}}")
    g.add_argument("--max-offsets-per-trigger", type=int, metavar="N",
                   help="at most N messages per micro-batch (spread over partitions by lag)")
    g.add_argument("--schemas", metavar="DIR", help="folder of Rubin schemas for the Confluent wire format")
    g.add_argument("--schema-registry", metavar="URL", help="schema registry for the Confluent wire format")
    g.add_argument("--kafka-format", choices=("auto", "python", "native"),
                   default=os.environ.get("MSB_STREAM_KAFKA_FORMAT", "auto"),
                   help="python: our confluent-kafka data source (msbkafka, read by the job as msbalerts: decoded "
                        "in the reading task); native: Spark's kafka connector "
                        "(needs its jars, as in the container image); auto: native if its jars are present "
                        "(env MSB_STREAM_KAFKA_FORMAT)")

    g = p.add_argument_group("processing")
    g.add_argument("--quality", default="fink", choices=("fink", "ztf-pure", "rubin", "none"),
                   help="quality-cut preset")
    g.add_argument("--cut", action="append", metavar="COL OP VALUE",
                   help="add or override a threshold, e.g. --cut 'rb>=0.7' (repeatable)")
    g.add_argument("--filters", metavar="A,B", help="filters to run, comma-separated (default: all discovered)")
    g.add_argument("--filters-dir", action="append", metavar="DIR",
                   help="folder of filter plug-ins <name>/filter.py (default: the built-in spark/msb_stream/filters)")
    g.add_argument("--keep-cutouts", action="store_true", help="keep the three cutouts as binary columns")

    g = p.add_argument_group("output")
    g.add_argument("--archive", required=True, metavar="DIR", help="Parquet archive (partitioned by night)")
    g.add_argument("--checkpoint", required=True, metavar="DIR", help="Spark checkpoint (restart state)")
    g.add_argument("--topic-prefix", metavar="PREFIX", help="prefix of the output topics (default: none)")
    g.add_argument("--processed-topic", metavar="TOPIC", help="topic for processed alerts (default <prefix>processed)")
    g.add_argument("--dead-letter-topic", metavar="TOPIC",
                   help="topic for undecodable messages (default <prefix>dead-letters)")
    g.add_argument("--distribution", choices=livestream.DISTRIBUTIONS, default="fink",
                   help="the filter topics: fink (Fink's Livestream convention, on <prefix> + --fink-topics: the "
                        "alert itself, cutouts included, plus msb's fields, keyed by its schema) or container "
                        "(<prefix>filter-<name>: the processed record as a one-record container, key objectId)")
    g.add_argument("--fink-topics", default=livestream.DEFAULT_TOPIC_FORMAT, metavar="FORMAT",
                   help="name of a filter's topic with --distribution fink: {filter} and {survey} (ztf or lsst) "
                        "are replaced")

    g = p.add_argument_group("running")
    g.add_argument("--available-now", action="store_true",
                   help="process everything already in the topic, then exit (else run until stopped)")
    g.add_argument("--trigger-seconds", type=float, default=1.0, help="micro-batch interval when streaming")
    g.add_argument("--master", default="local[2]",
                   help="Spark master: local[N] (threads), local-cluster[N,CORES,MB] (N executor processes on this "
                        "machine) or k8s://https://HOST:PORT")
    g.add_argument("--metrics-port", type=int, default=9402, help="Prometheus /metrics port (0: any free port)")
    g.add_argument("--conf", action="append", metavar="KEY=VALUE", help="extra Spark setting")
    g.add_argument("--json", action="store_true", help="print the summary as JSON")

    k8s.add_arguments(p)


# The `stream` extra's packages (pyproject.toml); a filter's own missing import is reported as such.
STREAM_PACKAGES = ("pyspark", "py4j", "numpy", "pandas", "pyarrow")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="Spark stream processor: decode, cut, filter, publish and archive alerts",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    add_arguments(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    from msb_stream.job import StreamConfig

    conf = dict(item.split("=", 1) for item in args.conf or [])
    if args.master.startswith("k8s://"):
        conf = {**k8s.flag_conf(args), **conf}
    return StreamConfig(
        bootstrap=args.bootstrap, topic=args.topic, archive=args.archive, checkpoint=args.checkpoint,
        quality=args.quality, cuts=args.cut or [], available_now=args.available_now, master=args.master,
        filters=[f for f in args.filters.split(",") if f] if args.filters else None,
        filters_dirs=args.filters_dir or [], keep_cutouts=args.keep_cutouts, schemas=args.schemas,
        schema_registry=args.schema_registry, topic_prefix=args.topic_prefix or "",
        distribution=args.distribution, fink_topics=args.fink_topics, processed_topic=args.processed_topic,
        dead_letter_topic=args.dead_letter_topic, starting_offsets=args.starting_offsets,
        max_offsets_per_trigger=args.max_offsets_per_trigger, trigger_seconds=args.trigger_seconds,
        metrics_port=args.metrics_port, kafka_format=args.kafka_format, spark_conf=conf,
    )


def run(args: argparse.Namespace) -> int:
    from msb.kafka import KafkaUnreachable
    from msb_stream.job import run_stream
    from msb_stream.session import SparkStartError

    try:
        config = config_from_args(args)
        summary = run_stream(config)
    except (ValueError, FileNotFoundError, ImportError, KafkaUnreachable, SparkStartError) as exc:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in STREAM_PACKAGES:
            raise  # msb's own command line names the extra to install
        print(f"msb stream: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary.as_dict(), indent=1) if args.json else "\n".join(summary.lines()))
    return 0
