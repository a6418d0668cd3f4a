"""``msb replay``: the command line of the replay producer."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from msb import kafka
from msb.cliutil import HelpFormatter


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
    p.add_argument("--data", nargs="+", type=Path, required=True, metavar="PATH",
                   help="alert files, folders or .tar.gz archives")
    p.add_argument("--bootstrap", default=kafka.default_bootstrap(), help="Kafka bootstrap servers (env MSB_BOOTSTRAP)")
    p.add_argument("--topic", default="raw", help="topic to send to")
    p.add_argument("--partitions", type=int, default=4, help="partitions if the topic must be created")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--visit-interval", type=float, metavar="SECONDS", help="one visit every SECONDS")
    pace.add_argument("--speed", type=float, metavar="X", help="the night's own timing, X times faster")
    pace.add_argument("--rate", type=float, metavar="N", help="N alerts per second")
    pace.add_argument("--max", action="store_true", help="as fast as the broker takes them (the default)")
    loops = p.add_mutually_exclusive_group()
    loops.add_argument("--loop", type=int, default=1, metavar="N", help="replay the data N times")
    loops.add_argument("--forever", action="store_true", help="replay the data until interrupted")
    p.add_argument("--limit", type=_positive, metavar="N", help="stop after N alerts")
    p.add_argument("--fresh-candids", action="store_true",
                   help="loops after the first send new alert ids (candid + loop * 10^16), so nothing "
                   "downstream deduplicates them")
    p.add_argument("--resume", action="store_true",
                   help="after a crash: skip the alerts this replay already delivered to the topic "
                   "(recognised by their msb_replay_id header)")
    p.add_argument("--format", dest="wire_format", choices=["container", "confluent"], default="container",
                   help="container: each packet as its .avro file (ZTF); "
                   "confluent: magic byte + schema id + datum (Rubin)")
    p.add_argument("--schema-id", type=int, help="Confluent schema id to write (default: Rubin's id for its schema)")
    p.add_argument("--schemas", type=Path, metavar="DIR", help="local folder of writer schemas, for Confluent input")
    p.add_argument("--schema-registry", metavar="URL", help="schema registry, for Confluent input")
    p.add_argument("--strict", action="store_true", help="stop at the first bad file instead of skipping it")
    p.add_argument("--metrics-port", type=int, default=9401, help="serve Prometheus /metrics here (-1: off)")
    p.add_argument("--delivery-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="give up on an alert the broker has not acknowledged after this long")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    p.add_argument("--summary-json", type=Path, metavar="FILE",
                   help="also write the end-of-run summary to FILE as JSON (msb run reads it)")
    p.set_defaults(func=_run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    from msb.avro import SchemaStore
    from msb_replay.pacing import Pace
    from msb_replay.replay import BadPacket, ReplayConfig, run_replay

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.visit_interval is not None:
        pace = Pace("visit-interval", args.visit_interval)
    elif args.speed is not None:
        pace = Pace("speed", args.speed)
    elif args.rate is not None:
        pace = Pace("rate", args.rate)
    else:
        pace = Pace("max")
    schemas = None
    if args.schemas or args.schema_registry:
        schemas = SchemaStore(args.schemas, args.schema_registry)
    cfg = ReplayConfig(
        data=args.data, bootstrap=args.bootstrap, topic=args.topic, partitions=args.partitions, pace=pace,
        loops=None if args.forever else args.loop, limit=args.limit, wire_format=args.wire_format,
        schema_id=args.schema_id, schemas=schemas, strict=args.strict,
        metrics_port=None if args.metrics_port < 0 else args.metrics_port,
        delivery_timeout_s=args.delivery_timeout, progress=not args.no_progress,
        fresh_ids=args.fresh_candids, resume=args.resume,
    )
    try:
        summary = run_replay(cfg)
    except kafka.KafkaUnreachable as exc:
        print(f"msb replay: {exc}", file=sys.stderr)
        return 3
    except BadPacket as exc:
        print(f"msb replay: bad input (--strict): {exc}", file=sys.stderr)
        return 2
    if args.summary_json:
        args.summary_json.write_text(json.dumps(dataclasses.asdict(summary)))
    print("replay summary")
    for line in summary.lines():
        print(f"  {line}")
    if summary.failed:
        print(f"msb replay: {summary.failed} alerts were NOT delivered", file=sys.stderr)
        return 1
    if not summary.alerts and not summary.delivered_before:
        why = (f"all {summary.skipped} files were bad (each named above)" if summary.skipped
               else "no alert files found")
        print(f"msb replay: nothing was delivered: {why} in {', '.join(map(str, args.data))}", file=sys.stderr)
        return 2
    return 0
