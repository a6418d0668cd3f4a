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
from msb_crossmatch.config import STORE_HELP, CrossmatchConfig
from msb_crossmatch.limits import ApiLimits

if TYPE_CHECKING:  # the command functions import it: msb --help stays light
    from msb.progress import Reporter

T = TypeVar("T")



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
    CrossmatchConfig.add_arguments(xm)
    xm.set_defaults(func=_crossmatch)


def api_limits(args: argparse.Namespace) -> ApiLimits:
    """The HTTP API limits the command line asked for."""
    return CrossmatchConfig.from_args(args).api_limits


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

    from msb.kafka import KafkaUnreachable
    from msb_crossmatch.ingest import CatalogError
    from msb_crossmatch.service import CrossmatchService, run_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = CrossmatchConfig.from_args(args)

    def say(msg: str) -> None:
        print(f"msb crossmatch: {msg}", file=sys.stderr, flush=True)

    try:
        if cfg.api_only:
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
