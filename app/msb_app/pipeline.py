"""``msb run``: the whole pipeline on one machine, no cluster.

By default live (app/msb_app/live.py): the embedded broker, the replay, the stream and the crossmatch run at
once, each as its own ``msb <command>`` process, with a dashboard, until every replayed alert is
classified or cut. ``--sequential`` runs the stages one after another in this process instead
(replay, then the stream with Trigger.AvailableNow, then the crossmatch): the baseline the live run
is benchmarked against.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from msb import kafka, paths
from msb.broker import EmbeddedBroker, memory_warn_option
from msb.cliutil import HelpFormatter, deprecated_action
from msb_app.stageconfigs import stage_configs

if TYPE_CHECKING:
    from msb_crossmatch.config import CrossmatchConfig
    from msb_replay.config import ReplayConfig
    from msb_stream.config import StreamConfig

log = logging.getLogger("msb.run")


@dataclass
class RunResult:
    replayed: int = 0
    skipped: int = 0
    failed: int = 0
    processed: int = 0
    dead_letters: int = 0
    classified: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    ok: bool = True


@contextlib.contextmanager
def kafka_for_run(bootstrap: str | None, out: Path, memory_warn: float) -> Iterator[tuple[str, int | None]]:
    """(bootstrap, broker pid): the given Kafka, or an embedded broker (``msb broker``) for the run."""
    if bootstrap:
        yield bootstrap, None
        return
    out.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log=out / "broker.log", options=["--memory-warn", str(memory_warn)]) as broker:
        yield broker.bootstrap, broker.pid


def _replay(cfg: ReplayConfig, result: RunResult) -> None:
    from msb_replay.replay import run_replay

    summary = run_replay(cfg)
    result.replayed, result.skipped, result.failed = summary.alerts, summary.skipped, summary.failed
    result.lines += ["replay"] + [f"  {line}" for line in summary.lines()]
    if summary.failed or not summary.alerts:
        result.ok = False
    if not summary.alerts and not summary.failed:
        result.lines.append(f"  nothing was delivered: no readable alert in {', '.join(map(str, cfg.data))}")


def _catalogs(args: argparse.Namespace, result: RunResult) -> None:
    """The default catalogs from ../shared, built once and reused while their sources are unchanged."""
    from msb.progress import Reporter
    from msb_crossmatch.defaults import build_default_catalogs

    report = Reporter("catalogs")
    built = build_default_catalogs(args.catalogs, log=report.log)
    report.close()
    rows = sum(m.rows for m, _ in built)
    fresh = sum(1 for _, now in built if now)
    result.lines += ["catalogs", f"  {len(built)} catalogs, {rows:,} rows in {args.catalogs} ({fresh} built now)"]


def _stream(cfg: StreamConfig, result: RunResult) -> None:
    from msb_stream.job import run_stream

    summary = run_stream(cfg)
    result.processed = summary.quality_passed
    result.dead_letters = summary.dead_letters
    result.lines += ["stream"] + [f"  {line}" for line in summary.detail_lines()]
    if summary.latency_p50_s is not None:
        result.lines.append("  (here the stages run one after another: latency includes Spark's start-up)")
    if result.dead_letters:
        result.ok = False
        result.lines.append(f"  {result.dead_letters} replayed alerts could not be decoded (see {cfg.dead_letters})")


def passed_candids(archive: Path) -> set[int]:
    """Distinct candids that passed the quality cut: the archive keeps one row per packet, and the same
    alert may come in several packets (schema versions, at-least-once redelivery)."""
    import pyarrow.parquet as pq

    from msb_app.runsummary import has_parquet

    if not has_parquet(archive):
        return set()
    return set(pq.read_table(archive, columns=["candid"])["candid"].to_pylist())


def _crossmatch(cfg: CrossmatchConfig, archive: Path, result: RunResult) -> None:
    from msb_crossmatch.service import run_service

    expected = len(passed_candids(archive))
    summary = run_service(cfg, stop_when=lambda s: len(s.candids) >= expected)
    result.classified = len(summary.candids)
    result.lines += ["crossmatch"] + [f"  {line}" for line in summary.table().splitlines()]
    result.lines.append(f"  written to {cfg.out} (Parquet) and topic {cfg.out_topic!r}")
    if result.classified < expected:
        result.ok = False
        result.lines.append(f"  INCOMPLETE: {expected} distinct alerts passed the quality cut, "
                            f"{result.classified} classified")


def _fresh_outputs(out: Path) -> None:
    """A new embedded broker starts empty: the previous run's checkpoint and outputs no longer apply."""
    for name in ("archive", "checkpoint", "classified"):
        shutil.rmtree(out / name, ignore_errors=True)


def run_pipeline(args: argparse.Namespace) -> RunResult:
    result = RunResult()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.bootstrap:
        _fresh_outputs(args.out)
    with kafka_for_run(args.bootstrap, args.out, args.broker_memory_warn) as (bootstrap, _pid):
        where = args.bootstrap or f"embedded tansu broker at {bootstrap}"
        print(f"msb run: {', '.join(map(str, args.data))} -> {where}", file=sys.stderr)
        ports = {"replay": args.replay_metrics_port, "stream": args.stream_metrics_port,
                 "crossmatch": args.crossmatch_port}
        cfg = stage_configs(args, bootstrap, ports)
        # One stage after another, in this process: the stream reads what is there and ends, the
        # crossmatch ends when every alert that passed the cut is classified (or after a minute idle).
        replay = dataclasses.replace(cfg.replay, progress=True, loops=args.loop)  # --forever is live only
        stream = dataclasses.replace(cfg.stream, available_now=True)
        crossmatch = dataclasses.replace(cfg.crossmatch, exit_when_idle=60.0, track_candids=True)
        stages = (
            ("catalogs", lambda: _catalogs(args, result)),
            ("replay", lambda: _replay(replay, result)),
            ("stream", lambda: _stream(stream, result)),
            ("crossmatch", lambda: _crossmatch(crossmatch, Path(stream.archive), result)),
        )
        for name, stage in stages:
            print(f"msb run: {name}...", file=sys.stderr)
            t0 = time.monotonic()
            stage()
            result.stages[name] = time.monotonic() - t0
            if not result.ok:
                break
        if args.linger:
            print(f"msb run: done; metrics stay up for {args.linger:g} s (Ctrl-C to stop)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.linger)
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole pipeline locally on an alert folder or archive (embedded broker, no cluster)",
        description="Start an embedded Kafka broker, build the crossmatch catalogs (once), replay the alerts, "
        "stream them through Spark (decode, quality cut, filters, archive) and classify them with the "
        "crossmatch service, then print a summary. Classified alerts are written as Parquet under "
        "--out/classified. Exits 0 when every replayed alert was classified or dropped by the quality cut "
        "(--quality none keeps all). Use --bootstrap to use an existing Kafka instead of the embedded one.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--data", nargs="+", type=Path, default=[paths.ztf_night()], metavar="PATH",
                   help="alert files, folders or .tar.gz archives (default: the ZTF night of 2018-11-29 in ../shared)")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="where outputs and logs go")
    p.add_argument("--bootstrap", help="use this Kafka instead of starting the embedded broker")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the raw topic")
    p.add_argument("--visit-interval", type=float, metavar="SECONDS",
                   help="pace the replay (default: as fast as possible)")
    p.add_argument("--schemas", type=Path, default=paths.rubin_schemas(), metavar="DIR",
                   help="writer schemas for Confluent wire-format alerts (Rubin)")
    p.add_argument("--quality", default="fink", help="quality cut preset of the stream (fink, ztf-pure, rubin, none)")
    p.add_argument("--master", default="local[2]", help="Spark master")
    p.add_argument("--catalogs", type=Path, default=paths.catalog_store(),
                   metavar="DIR", help="crossmatch catalog store (env MSB_CATALOGS); built on first use")
    p.add_argument("--replay-metrics-port", type=int, help="serve the replay's /metrics here")
    p.add_argument("--stream-metrics-port", type=int, help="serve the stream's /metrics here")
    p.add_argument("--crossmatch-port", type=int, help="serve the crossmatch HTTP API and /metrics here")
    p.add_argument("--xmatch-port", dest="crossmatch_port", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                   action=deprecated_action(argparse._StoreAction, "--crossmatch-port", "msb run"))
    p.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                   help="keep the metrics endpoints up this long after the run (for a Prometheus scrape; "
                   "--sequential only)")
    p.add_argument("--sequential", action="store_true",
                   help="run the stages one after another in this process (the baseline), not live")
    loops = p.add_mutually_exclusive_group()
    loops.add_argument("--loop", type=int, default=1, metavar="N",
                       help="replay the data N times, with fresh alert ids after the first")
    loops.add_argument("--forever", action="store_true",
                       help="keep the replay looping with fresh alert ids until Ctrl-C (live only)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="give up after this long, saying which stage holds what (default 900, none with "
                   "--forever; 0: never)")
    p.add_argument("--trigger-seconds", type=float, default=1.0, help="the stream's micro-batch interval")
    p.add_argument("--plain", action="store_true", help="plain dashboard lines even on a terminal")
    p.add_argument("--prometheus", action="store_true",
                   help="also run Debian's Prometheus scraping every stage, with the chart's recording and "
                   "alerting rules, and print its URL (live only)")
    p.add_argument("--dashboard-every", type=float, default=5.0, metavar="SECONDS",
                   help="interval of the plain dashboard lines")
    memory_warn_option(p, "--broker-memory-warn")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines are per-call chatter
    try:
        return _run_sequential(args) if args.sequential else _run_live(args)
    except kafka.KafkaUnreachable as exc:
        print(f"msb run: {exc}", file=sys.stderr)
        return 3


def _run_sequential(args: argparse.Namespace) -> int:
    result = run_pipeline(args)
    print("\nmsb run summary (sequential: one stage after another)")
    for line in result.lines:
        print(line)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.stages.items())
    print(f"stages: {timing}")
    print("OK" if result.ok else "FAILED: see above")
    return 0 if result.ok else 1


def _run_live(args: argparse.Namespace) -> int:
    from msb_app.live import run_live
    from msb_app.runsummary import print_summary

    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.bootstrap:
        _fresh_outputs(args.out)
    result = RunResult()
    t0 = time.monotonic()
    with kafka_for_run(args.bootstrap, args.out, args.broker_memory_warn) as (bootstrap, broker_pid):
        where = args.bootstrap or f"embedded broker (msb broker, pid {broker_pid}) at {bootstrap}"
        print(f"msb run: {', '.join(map(str, args.data))} -> {where}", file=sys.stderr)
        _catalogs(args, result)
        run, outcome = run_live(args, bootstrap, broker_pid)
        return print_summary(run, outcome, result.lines, time.monotonic() - t0)
