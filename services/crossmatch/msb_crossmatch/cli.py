"""`msb catalog ...` (build and list the catalog store) and `msb crossmatch` (the crossmatch service;
`msb xmatch` is kept as an alias: users type it)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from msb.cliutil import HelpFormatter
from msb.paths import catalog_store
from msb_crossmatch.limits import ApiLimits

if TYPE_CHECKING:  # the command functions import it: msb --help stays light
    from msb.progress import Reporter

T = TypeVar("T")

STORE_HELP = ("catalog store folder (default: $MSB_CATALOGS, else ./catalogs in the working directory)")


def _store(args: argparse.Namespace) -> Path:
    return Path(args.catalogs).resolve() if args.catalogs else catalog_store()


def register(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser(
        "catalog", formatter_class=HelpFormatter, help="build and list the crossmatch catalogs",
        description="Build the crossmatch catalog store: each catalog is written as HEALPix-ordered Parquet "
        "partitions plus a manifest, ready for 'msb crossmatch'.",
    )
    csub = cat.add_subparsers(title="catalog commands", metavar="COMMAND", required=True)

    add = csub.add_parser(
        "add", formatter_class=HelpFormatter, help="ingest a catalog file (Parquet, FITS, CSV, VOTable)",
        description="Ingest one catalog (several files are concatenated, e.g. the two 4LAC tables). "
        "Positions may be degrees, radians (--unit rad) or sexagesimal text (RA in hours).",
        epilog="example: msb catalog add vsx ../shared/data/catalogs/fink_science/vsx.parquet "
        "--ra RAJ2000 --dec DEJ2000 --type VType --radius 1.5",
    )
    add.add_argument("name", help="catalog name (letters, digits, - and _); output columns are xm_<name>")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="catalog file(s)")
    add.add_argument("--ra", required=True, metavar="COL", help="right ascension column")
    add.add_argument("--dec", required=True, metavar="COL", help="declination column")
    add.add_argument("--type", metavar="COL", help="label column (object type), reported as xm_<name>")
    add.add_argument("--id", metavar="COL", help="id column, reported where there is no label")
    add.add_argument("--radius", type=float, default=1.0, metavar="ARCSEC", help="match radius")
    add.add_argument("--radius-column", metavar="COL", help="per-row radius column (e.g. object size)")
    add.add_argument("--radius-scale", type=float, default=1.0,
                     help="factor from --radius-column to arcsec (30 for a diameter in arcmin)")
    add.add_argument("--max-radius", type=float, metavar="ARCSEC", help="cap for per-row radii")
    add.add_argument("--unit", choices=("auto", "deg", "rad", "hourangle"), default="auto",
                     help="unit of numeric positions (auto: the file's declared unit, else degrees)")
    add.add_argument("--skip-invalid", action="store_true", help="drop rows without a valid position")
    add.add_argument("--note", default="", help="source note kept in the manifest")
    add.add_argument("--catalogs", metavar="DIR", help=STORE_HELP)
    add.set_defaults(func=_add)

    ls = csub.add_parser("list", formatter_class=HelpFormatter, help="list the built catalogs",
                         description="List the catalogs of the store.")
    ls.add_argument("--catalogs", metavar="DIR", help=STORE_HELP)
    ls.set_defaults(func=_list)

    bd = csub.add_parser(
        "build-defaults", formatter_class=HelpFormatter, help="build the default catalog set from the shared data",
        description="Build gcvs, vsx, spicy, gaia, hipparcos, openngc, mangrove, 3hsp and 4lac from "
        "$MSB_SHARED/data/catalogs (default ../shared). Catalogs whose sources and options are unchanged "
        "are skipped.",
    )
    bd.add_argument("--source", type=Path, metavar="DIR", help="catalogs folder (default $MSB_SHARED/data/catalogs)")
    bd.add_argument("--only", nargs="+", metavar="NAME", help="build only these")
    bd.add_argument("--force", action="store_true", help="rebuild even when up to date")
    bd.add_argument("--catalogs", metavar="DIR", help=STORE_HELP)
    bd.set_defaults(func=_build_defaults)

    xm = sub.add_parser(
        "crossmatch", aliases=["xmatch"], formatter_class=HelpFormatter,
        help="crossmatch and classify the processed stream (Kafka service + HTTP API)",
        description="Consume the stream processor's topic, crossmatch each batch with the catalog store, "
        "classify it with rules.yaml and produce the classified alerts (Avro) to --out-topic; offsets are "
        "committed after delivery (at-least-once, dedup on candid). Replicas with the same --group share "
        "the partitions. Serves POST /crossmatch (/xmatch, its former name, still answers, deprecated), "
        "GET /catalogs, /healthz, /readyz and /metrics.",
    )
    xm.add_argument("--bootstrap", default=None,
                    help="Kafka bootstrap servers (default: $MSB_BOOTSTRAP or 127.0.0.1:9092)")
    xm.add_argument("--topic", default="processed", help="input topic")
    xm.add_argument("--out-topic", default="classified", help="output topic")
    xm.add_argument("--group", default="msb-crossmatch", help="consumer group")
    xm.add_argument("--out", type=Path, metavar="DIR", help="also write classified alerts as Parquet under DIR")
    xm.add_argument("--distribution", choices=("container", "fink"), default="container",
                    help="the output's messages: container (one-record Avro containers, key objectId: what msb "
                    "run reads) or fink (Fink's Livestream convention: the classified record as a schemaless "
                    "Avro datum keyed by its schema as JSON, partitioned by objectId; fink-client reads it)")
    xm.add_argument("--http-port", type=int, default=8080, help="HTTP API port (0: any free port, -1: no API)")
    xm.add_argument("--http-host", default="0.0.0.0", help="HTTP API address")
    xm.add_argument("--catalogs", metavar="DIR", help=STORE_HELP)
    xm.add_argument("--only", nargs="+", metavar="NAME", help="use only these catalogs (default: all built)")
    xm.add_argument("--batch-size", type=int, default=5000, help="max alerts per batch")
    xm.add_argument("--session-timeout-ms", type=int, default=45_000, help="consumer session timeout")
    xm.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                    help="stop after this long without input (default: run until stopped)")
    xm.add_argument("--cds-url", metavar="URL",
                    help="also query a remote CDS xMatch (SIMBAD) per batch; off by default; 'Fail' on errors")
    xm.add_argument("--cds-timeout", type=float, default=10.0, help="remote timeout in seconds")
    xm.add_argument("--api-only", action="store_true", help="serve the HTTP API only, without Kafka")
    _api_limit_flags(xm)
    xm.set_defaults(func=_crossmatch)


def _api_limit_flags(parser: argparse.ArgumentParser) -> None:
    """What one HTTP request may ask (msb_crossmatch.limits.ApiLimits): each excess is refused with a
    4xx that tells the client what to change, so no client can starve the others or the probes."""
    d = ApiLimits()
    g = parser.add_argument_group(
        "HTTP API limits", "Each bounds what one /crossmatch request may ask; an excess is refused (4xx) with a "
        "message that says what to change.")
    g.add_argument("--max-body", type=_byte_size, default=_size_text(d.max_body_bytes), metavar="SIZE",
                   help="largest request body (bytes, or with KiB/MiB/GiB); larger gets 413 before any parsing")
    g.add_argument("--max-positions", type=_positive(int), default=d.max_positions, metavar="N",
                   help="most positions per request (413 beyond)")
    g.add_argument("--max-work", type=_positive(int), default=d.max_work, metavar="N",
                   help="most matcher work per request: zone intervals plus candidate catalog rows examined, "
                   "summed over the catalogs, counted before matching (413 beyond: fewer positions, a smaller "
                   "radius or fewer catalogs)")
    g.add_argument("--max-response", type=_byte_size, default=_size_text(d.max_response_bytes), metavar="SIZE",
                   help="largest answer (413 beyond: fewer positions, a smaller radius, or no \"all\")")
    g.add_argument("--max-concurrent", type=_positive(int), default=d.max_concurrent, metavar="N",
                   help="/crossmatch requests in progress at once (reading, matching, answering); more get 429 "
                   "with Retry-After")
    g.add_argument("--header-timeout", type=_positive(float), default=d.header_timeout, metavar="S",
                   help="seconds a connection has to send a complete request head (also the idle keep-alive "
                   "limit); then it is closed")
    g.add_argument("--body-timeout", type=_positive(float), default=d.body_timeout, metavar="S",
                   help="seconds to receive a request body (else 408 and the connection is closed), and to "
                   "send an answer")


def api_limits(args: argparse.Namespace) -> ApiLimits:
    """The HTTP API limits the command line asked for."""
    return ApiLimits(max_body_bytes=args.max_body, max_positions=args.max_positions, max_work=args.max_work,
                     max_response_bytes=args.max_response, max_concurrent=args.max_concurrent,
                     header_timeout=args.header_timeout, body_timeout=args.body_timeout)


_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def _byte_size(text: str) -> int:
    num = text.strip().rstrip("BbIiKkMmGg")
    unit = text.strip()[len(num):].lower()
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 2097152, 512KiB, 2MiB)") from None
    if not 1 <= value < 1 << 40:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size from 1 byte to 1 TiB")
    return int(value)


def _size_text(n: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if n % _UNITS[unit.lower()] == 0:
            return f"{n // _UNITS[unit.lower()]}{unit}"
    return str(n)


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(text: str) -> T:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
        return value

    return parse


def _add(args: argparse.Namespace) -> int:
    from msb.progress import Reporter
    from msb_crossmatch.ingest import Columns
    from msb_crossmatch.store import build

    cols = Columns(args.ra, args.dec, label=args.type, id=args.id, radius=args.radius_column,
                   radius_scale=args.radius_scale, unit=args.unit)
    rep = Reporter(f"catalog {args.name}")
    m = _reported("add", rep, lambda: build(
        args.name, args.files, cols, args.radius, _store(args), note=args.note, skip_invalid=args.skip_invalid,
        max_radius_arcsec=args.max_radius, progress=lambda n: rep.advance(n, "rows")))
    if m is None:
        return 2
    dropped = f", {m.dropped_rows:,} rows without a position dropped" if m.dropped_rows else ""
    print(f"{m.name}: {m.rows:,} rows, {len(m.partitions)} partitions (HEALPix order {m.partition_order}), "
          f"radius {m.radius_arcsec:g}\", built in {m.build_seconds:.2f} s{dropped} -> {_store(args) / m.name}")
    return 0


def _reported(command: str, rep: Reporter, build: Callable[[], T]) -> T | None:
    """Runs a build under its progress display; a bad catalog file is reported by name (None)."""
    from msb_crossmatch.ingest import CatalogError

    try:
        result = build()
    except (CatalogError, FileNotFoundError) as exc:
        rep.close()
        print(f"msb catalog {command}: {exc}", file=sys.stderr)
        return None
    rep.close()
    return result


def _list(args: argparse.Namespace) -> int:
    from msb_crossmatch.store import list_catalogs

    store = _store(args)
    ms = list_catalogs(store)
    if not ms:
        print(f"no catalogs in {store} (run 'msb catalog build-defaults')", file=sys.stderr)
        return 1
    print(f"{'name':<10} {'rows':>11} {'radius':>7} {'label':<8} {'parts':>5}  note")
    for m in ms:
        label = m.columns.get("label") or "(id)"
        print(f"{m.name:<10} {m.rows:>11,} {m.radius_arcsec:>6g}\" {label[:8]:<8} {len(m.partitions):>5}  {m.note}")
    print(f"store: {store}")
    return 0


def _build_defaults(args: argparse.Namespace) -> int:
    import time

    from msb.progress import Reporter
    from msb_crossmatch.defaults import build_default_catalogs, default_rows_hint

    store = _store(args)
    rep = Reporter("default catalogs", total=default_rows_hint())
    t0 = time.perf_counter()
    out = _reported("build-defaults", rep, lambda: build_default_catalogs(
        store, args.source, args.only, args.force, log=rep.log, progress=lambda n: rep.advance(n, "rows")))
    if out is None:
        return 2
    built = sum(1 for _, b in out if b)
    rows = sum(m.rows for m, _ in out)
    print(f"{len(out)} catalogs ({built} built, {len(out) - built} up to date), {rows:,} rows, "
          f"{time.perf_counter() - t0:.1f} s -> {store}")
    return 0


def _crossmatch(args: argparse.Namespace) -> int:
    import logging

    from msb.kafka import KafkaUnreachable, default_bootstrap
    from msb_crossmatch.ingest import CatalogError
    from msb_crossmatch.service import CrossmatchConfig, CrossmatchService, run_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = CrossmatchConfig(
        bootstrap=args.bootstrap or default_bootstrap(), topic=args.topic, out_topic=args.out_topic,
        group=args.group, catalogs_dir=_store(args), catalogs=args.only, out_dir=args.out,
        http_port=None if args.http_port < 0 else args.http_port, http_host=args.http_host,
        batch_size=args.batch_size, session_timeout_ms=args.session_timeout_ms, max_idle_s=args.exit_when_idle,
        cds_url=args.cds_url, cds_timeout=args.cds_timeout,
        api_limits=api_limits(args), distribution=args.distribution,
    )

    def say(msg: str) -> None:
        print(f"msb crossmatch: {msg}", file=sys.stderr, flush=True)

    try:
        if args.api_only:
            return _api_only(cfg, say, CrossmatchService)
        say(f"{cfg.topic} -> {cfg.out_topic} at {cfg.bootstrap}, group {cfg.group}, pid {os.getpid()}")
        s = run_service(cfg, log_fn=say)
    except (CatalogError, KafkaUnreachable) as exc:
        say(str(exc))
        return 2
    say(f"stopped ({s.stopped_because}): {s.classified:,} alerts classified in {s.batches} batches, "
        f"{s.bad_messages} undecodable, {s.seconds:.1f} s")
    print(s.table())
    return 0


def _api_only(cfg, say, service_cls) -> int:  # type: ignore[no-untyped-def]
    import signal
    import threading

    svc = service_cls(cfg, say)
    svc.state.ready, svc.state.reason = True, "API only"
    port = svc.start_api()
    say(f"HTTP API on {cfg.http_host}:{port} ({', '.join(svc.xm.names)}); Ctrl-C stops it")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    svc.stop_api()
    return 0
