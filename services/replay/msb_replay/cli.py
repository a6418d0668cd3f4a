"""``msb replay``: the command line of the replay producer."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from msb import kafka
from msb.cliutil import HelpFormatter
from msb_replay.config import ReplayConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay archived alert packets into Kafka in visit-sized bursts",
        description="Send archived alert packets (.avro files, folders, or nightly .tar.gz archives) into a "
        "Kafka topic, one visit (exposure) per burst, at a chosen pace. Packets go out byte-identical "
        "(Avro container format) or re-framed in the Confluent wire format. Bad files are named, "
        "skipped and counted; the exit code is non-zero if any alert was not delivered, or if none was "
        "there to send.",
        epilog="exit codes: 0 every alert read was delivered; 1 some alerts were not delivered (the broker did "
        "not acknowledge them within --delivery-timeout); 2 bad input: a bad file with --strict, or no alert "
        "to send at all (every file bad, or no alert files); 3 Kafka unreachable.",
        formatter_class=HelpFormatter,
    )
    ReplayConfig.add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from msb_replay.replay import BadPacket, run_replay

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = ReplayConfig.from_args(args)
    try:
        summary = run_replay(cfg)
    except kafka.KafkaUnreachable as exc:
        print(f"msb replay: {exc}", file=sys.stderr)
        return 3
    except BadPacket as exc:
        print(f"msb replay: bad input (--strict): {exc}", file=sys.stderr)
        return 2
    if cfg.summary_json:
        cfg.summary_json.write_text(json.dumps(dataclasses.asdict(summary)))
    print("replay summary")
    for line in summary.lines():
        print(f"  {line}")
    if summary.failed:
        print(f"msb replay: {summary.failed} alerts were NOT delivered", file=sys.stderr)
        return 1
    if not summary.alerts and not summary.delivered_before:
        why = (f"all {summary.skipped} files were bad (each named above)" if summary.skipped
               else "no alert files found")
        print(f"msb replay: nothing was delivered: {why} in {', '.join(map(str, cfg.data))}", file=sys.stderr)
        return 2
    return 0
