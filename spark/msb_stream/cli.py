"""``msb stream``: the Spark stream processor's command line."""

from __future__ import annotations

import argparse
import json
import sys

from msb.cliutil import HelpFormatter
from msb_stream.config import StreamConfig

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


# The `stream` extra's packages (pyproject.toml); a filter's own missing import is reported as such.
STREAM_PACKAGES = ("pyspark", "py4j", "numpy", "pandas", "pyarrow")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="Spark stream processor: decode, cut, filter, publish and archive alerts",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    StreamConfig.add_arguments(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> StreamConfig:
    return StreamConfig.from_args(args)


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
