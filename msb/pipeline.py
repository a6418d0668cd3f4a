"""``msb run``: the whole pipeline on one machine, no cluster.

embedded broker -> replay -> stream (Spark, local) -> crossmatch -> summary. Each stage is the
same code the Kubernetes deployment runs; here they share one process (Spark in local mode)
and talk through the embedded Kafka broker exactly as the containers do through Strimzi.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from msb import kafka, paths
from msb.broker import TANSU_PRODUCER_OPTIONS, EmbeddedBroker
from msb.cliutil import HelpFormatter

log = logging.getLogger("msb.run")


@dataclass
class Topics:
    raw: str = "raw"
    processed: str = "processed"
    classified: str = "classified"
    dead_letters: str = "dead-letters"


@dataclass
class RunResult:
    replayed: int = 0
    skipped: int = 0
    failed: int = 0
    read_back: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    ok: bool = True


@contextlib.contextmanager
def kafka_for_run(bootstrap: str | None, out: Path) -> Iterator[str]:
    """The given Kafka, or an embedded tansu broker for the length of the run."""
    if bootstrap:
        yield bootstrap
        return
    out.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log=out / "broker.log") as broker:
        previous = os.environ.get("MSB_PRODUCER_OPTIONS")
        os.environ["MSB_PRODUCER_OPTIONS"] = TANSU_PRODUCER_OPTIONS  # see msb.broker
        try:
            yield broker.bootstrap
        finally:
            if previous is None:
                os.environ.pop("MSB_PRODUCER_OPTIONS", None)
            else:
                os.environ["MSB_PRODUCER_OPTIONS"] = previous


def _replay(args: argparse.Namespace, bootstrap: str, topics: Topics, result: RunResult) -> None:
    from msb.avro import SchemaStore
    from msb.replay.pacing import Pace
    from msb.replay.replay import ReplayConfig, run_replay

    pace = Pace("visit-interval", args.visit_interval) if args.visit_interval else Pace("max")
    schemas = SchemaStore(args.schemas) if args.schemas and args.schemas.is_dir() else None
    summary = run_replay(ReplayConfig(
        data=args.data, bootstrap=bootstrap, topic=topics.raw, partitions=args.partitions, pace=pace,
        schemas=schemas, metrics_port=args.replay_metrics_port, progress=True,
    ))
    result.replayed, result.skipped, result.failed = summary.alerts, summary.skipped, summary.failed
    result.lines += ["replay"] + [f"  {line}" for line in summary.lines()]
    if summary.failed:
        result.ok = False


def _read_back(bootstrap: str, topics: Topics, result: RunResult) -> None:
    """Consumes the raw topic back and checks every replayed alert is there."""
    from msb.consume import read_topic

    by_partition: Counter[int] = Counter()
    for rec in read_topic(bootstrap, topics.raw, idle_s=2.0):
        by_partition[rec.message.partition()] += 1
    result.read_back = sum(by_partition.values())
    parts = ", ".join(f"p{p}: {n}" for p, n in sorted(by_partition.items()))
    result.lines += ["read back", f"  alerts in {topics.raw!r}   {result.read_back} ({parts})"]
    if result.read_back != result.replayed:
        result.ok = False
        result.lines.append(f"  MISMATCH: {result.replayed} replayed, {result.read_back} read back")


def run_pipeline(args: argparse.Namespace) -> RunResult:
    topics = Topics()
    result = RunResult()
    args.out.mkdir(parents=True, exist_ok=True)
    with kafka_for_run(args.bootstrap, args.out) as bootstrap:
        where = args.bootstrap or f"embedded tansu broker at {bootstrap}"
        print(f"msb run: {', '.join(map(str, args.data))} -> {where}", file=sys.stderr)
        for name, stage in (("replay", _replay), ("read back", _read_back)):
            t0 = time.monotonic()
            if name == "replay":
                stage(args, bootstrap, topics, result)
            else:
                stage(bootstrap, topics, result)
            result.stages[name] = time.monotonic() - t0
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole pipeline locally on an alert folder or archive (embedded broker, no cluster)",
        description="Start an embedded Kafka broker, replay the alerts, and run every stage of the broker on "
        "them, then print a summary. Use --bootstrap to use an existing Kafka instead.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--data", nargs="+", type=Path, default=[paths.ztf_night()], metavar="PATH",
                   help="alert files, folders or .tar.gz archives")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="where outputs and logs go")
    p.add_argument("--bootstrap", help="use this Kafka instead of starting the embedded broker")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the raw topic")
    p.add_argument("--visit-interval", type=float, metavar="SECONDS",
                   help="pace the replay (default: as fast as possible)")
    p.add_argument("--schemas", type=Path, default=paths.rubin_schemas(), metavar="DIR",
                   help="writer schemas for Confluent wire-format alerts (Rubin)")
    p.add_argument("--replay-metrics-port", type=int, help="serve the replay's /metrics here")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = run_pipeline(args)
    except kafka.KafkaUnreachable as exc:
        print(f"msb run: {exc}", file=sys.stderr)
        return 3
    print("\nmsb run summary")
    for line in result.lines:
        print(line)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.stages.items())
    print(f"stages: {timing}")
    print("OK" if result.ok else "FAILED: see above")
    return 0 if result.ok else 1
