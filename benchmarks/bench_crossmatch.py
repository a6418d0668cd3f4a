"""Crossmatch throughput: msb's zone index vs astropy match_to_catalog_sky (KD-tree built once).

Part 1, VSX (1.9M rows): store build, index load, then batches of 10,000 alert positions (half
within 2" of a VSX star, half anywhere) through both, checking the matches are identical.
Part 2, a synthetic uniform catalog generated on disk in a temp dir (MSB_BENCH_XM_ROWS rows,
default 100M), built through the chunked store path and opened lazily; batches of 10,000
positions in ZTF-sized fields (7x7 deg) load only the partitions they touch. It runs in a child
process so its peak RSS is its own. Single core: RAYON/OMP threads are pinned to 1.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import multiprocessing as mp  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

BATCH = 10_000
COMMAND = "make bench BENCH=crossmatch"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch_near(rng: np.random.Generator, cra: np.ndarray, cdec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half the batch within ~2" of catalog rows, half uniform on the sphere."""
    half = BATCH // 2
    pick = rng.integers(0, len(cra), half)
    off = rng.normal(0, 1.0 / 3600, (2, half))
    ra = np.concatenate([cra[pick] + off[0] / np.cos(np.radians(cdec[pick])), rng.uniform(0, 360, half)])
    dec = np.concatenate([np.clip(cdec[pick] + off[1], -90, 90), np.degrees(np.arcsin(rng.uniform(-1, 1, half)))])
    return np.mod(ra, 360), dec


def bench_vsx(store: Path, source: Path) -> dict[str, object]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from msb_crossmatch.defaults import DEFAULTS
    from msb_crossmatch.sky import nearest
    from msb_crossmatch.store import Catalog, build

    spec = next(s for s in DEFAULTS if s.name == "vsx")
    t0 = time.perf_counter()
    m = build("vsx", [source / f for f in spec.files], spec.cols, spec.radius, store)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat = Catalog(store / "vsx")
    t_load = time.perf_counter() - t0
    idx = cat._all.index  # type: ignore[union-attr]
    cra, cdec = idx.ra, idx.dec
    catalog = SkyCoord(cra * u.deg, cdec * u.deg)
    rng = np.random.default_rng(42)
    batches = [_batch_near(rng, cra, cdec) for _ in range(12)]
    t0 = time.perf_counter()
    catalog_first = SkyCoord(batches[0][0] * u.deg, batches[0][1] * u.deg).match_to_catalog_sky(catalog)
    t_tree = time.perf_counter() - t0  # includes the KD-tree build, cached on `catalog` afterwards
    del catalog_first
    ours, theirs, hits, equal = [], [], 0, True
    for ra, dec in batches[1:]:
        t0 = time.perf_counter()
        row, sep = nearest(idx.search(ra, dec, spec.radius / 3600), len(ra))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alerts = SkyCoord(ra * u.deg, dec * u.deg)
        i, d2, _ = alerts.match_to_catalog_sky(catalog)
        theirs.append(time.perf_counter() - t0)
        within = d2.arcsec <= spec.radius
        equal &= bool(np.array_equal(np.where(within, i, -1), np.where(row >= 0, row, -1)))
        equal &= bool(np.allclose(sep[within], d2.arcsec[within], atol=1e-6, rtol=0))
        hits += int(within.sum())
    # the full service path: all 9 default-like columns are out of scope here; VSX alone is the target
    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    return {"rows": m.rows, "build_s": t_build, "load_s": t_load, "tree_s": t_tree, "ours_s": t_ours,
            "theirs_s": t_theirs, "equal": equal, "hits": hits, "batches": len(ours)}


def _generate(path: Path, rows: int, chunk: int = 5_000_000) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    schema = pa.schema([("ra", pa.float64()), ("dec", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="none") as w:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ra = rng.uniform(0, 360, n)
            dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
            w.write_table(pa.table({"ra": ra, "dec": dec}, schema=schema))
    return time.perf_counter() - t0


def _big(rows: int, tmp: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Child process: generate, build chunked, then field batches with a bounded partition cache."""
    import astropy.units as u
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.coordinates import SkyCoord

    from msb_crossmatch.ingest import Columns
    from msb_crossmatch.sky import nearest
    from msb_crossmatch.store import Catalog, build

    src = Path(tmp) / "synthetic.parquet"
    t_gen = _generate(src, rows)
    rss_gen = _peak_rss_mb()
    t0 = time.perf_counter()
    m = build("synthetic", [src], Columns("ra", "dec"), 1.0, Path(tmp) / "store", expected_rows=rows)
    t_build = time.perf_counter() - t0
    src.unlink()
    rss_build = _peak_rss_mb()
    cat = Catalog(Path(tmp) / "store" / "synthetic", eager_rows=0, cache_rows=20_000_000)
    rng = np.random.default_rng(5)
    cold, warm, loaded, equal = [], [], [], True
    for k in range(4):
        c_ra, c_dec = rng.uniform(0, 360), rng.uniform(-30, 60)
        ra = np.mod(c_ra + rng.uniform(-3.5, 3.5, BATCH) / np.cos(np.radians(c_dec)), 360)
        dec = c_dec + rng.uniform(-3.5, 3.5, BATCH)
        # half the batch sits within ~1" of catalog rows of the field (read from its partitions)
        rows_here = pa.concat_tables([pq.read_table(f, columns=["ra", "dec"])
                                      for f in cat._files(cat._touched(ra[:50], dec[:50], 1.0))])
        fra, fdec = rows_here["ra"].to_numpy(), rows_here["dec"].to_numpy()
        pick = rng.integers(0, len(fra), BATCH // 2)
        jit = rng.normal(0, 0.5 / 3600, (2, BATCH // 2))
        ra[: BATCH // 2] = np.mod(fra[pick] + jit[0] / np.cos(np.radians(fdec[pick])), 360)
        dec[: BATCH // 2] = np.clip(fdec[pick] + jit[1], -90, 90)
        del rows_here, fra, fdec
        before = cat.partitions_loaded
        t0 = time.perf_counter()
        res = cat.match(ra, dec)
        cold.append(time.perf_counter() - t0)
        loaded.append(cat.partitions_loaded - before)
        t0 = time.perf_counter()
        res = cat.match(ra, dec)
        warm.append(time.perf_counter() - t0)
        if k == 0:  # same pairs as astropy against the rows of the touched partitions
            parts = cat._touched(ra, dec, 1.0)
            tab = pa.concat_tables([pq.read_table(f, columns=["ra", "dec"]) for f in cat._files(parts)])
            sub = SkyCoord(tab["ra"].to_numpy() * u.deg, tab["dec"].to_numpy() * u.deg)
            i, d2, _ = SkyCoord(ra * u.deg, dec * u.deg).match_to_catalog_sky(sub)
            from msb_crossmatch.sky import Pairs

            row, sep = nearest(Pairs(res.alert, np.arange(len(res.alert)), res.sep_arcsec), BATCH)
            within = d2.arcsec <= 1.0
            equal = bool(np.array_equal(within, row >= 0)) and bool(
                np.allclose(np.sort(sep[row >= 0]), np.sort(d2.arcsec[within]), atol=1e-6, rtol=0))
            hits = int(within.sum())
    out.put({"rows": m.rows, "partitions": len(m.partitions), "order": m.partition_order, "gen_s": t_gen,
             "build_s": t_build, "cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
             "loaded": statistics.median(loaded), "equal": equal, "hits": hits,
             "rss_gen": rss_gen, "rss_build": rss_build, "rss": _peak_rss_mb(),
             "disk_gb": sum(f.stat().st_size for f in (Path(tmp) / "store").rglob("*.parquet")) / 1e9})


def main() -> None:
    from benchmarks.record import record
    from msb import paths

    with tempfile.TemporaryDirectory(prefix="msb-bench-xm-") as tmp:
        v = bench_vsx(Path(tmp) / "store", paths.catalogs_dir())
    rows = int(os.environ.get("MSB_BENCH_XM_ROWS", "100000000"))
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory(prefix="msb-bench-xm-big-") as tmp:
        p = ctx.Process(target=_big, args=(rows, tmp, q))
        p.start()
        b = q.get()
        p.join()
    rate = BATCH / v["ours_s"]  # type: ignore[operator]
    ap_rate = BATCH / v["theirs_s"]  # type: ignore[operator]
    cold = f"{b['cold_s'] * 1e3:.0f} ms ({BATCH / b['cold_s']:,.0f} alerts/s)"
    rss = f"{b['rss_gen']:.0f} / {b['rss_build']:.0f} / {b['rss']:.0f} MB"
    body = f"""
Batches of {BATCH:,} alert positions (half within ~2" of a catalog row, half anywhere), one core
(numpy, RAYON_NUM_THREADS=1), medians over {v['batches']} batches. astropy: `match_to_catalog_sky`
with its KD-tree built once (the first call, timed separately) and reused, same batches, same run.

| VSX ({v['rows']:,} rows, radius 1.5") | msb (zones + exact Vincenty) | astropy (KD-tree) |
|---|---|---|
| store build (Parquet -> HEALPix-sorted partitions) | {v['build_s']:.2f} s | |
| index load (read + zone sort) | {v['load_s']:.2f} s | KD-tree + first batch {v['tree_s']:.2f} s |
| one batch | {v['ours_s'] * 1e3:.2f} ms | {v['theirs_s'] * 1e3:.1f} ms |
| **alerts/s/core** | **{rate:,.0f}** | {ap_rate:,.0f} |
| speed-up | **{rate / ap_rate:.1f}x** | 1x |
| same matches as astropy | {'yes' if v['equal'] else 'NO'} ({v['hits']:,} matches) | |

Targets: >= 1,000,000 alerts/s/core ({'met' if rate >= 1e6 else 'NOT met'}), >= 5x astropy
({'met' if rate / ap_rate >= 5 else 'NOT met'}), VSX build <= 10 s ({'met' if v['build_s'] <= 10 else 'NOT met'}).

| synthetic catalog, on disk | |
|---|---|
| rows | {b['rows']:,} (uniform on the sphere, generated chunked into a temp dir) |
| generation / chunked store build | {b['gen_s']:.0f} s / {b['build_s']:.0f} s |
| store | {b['partitions']} partitions (HEALPix order {b['order']}), {b['disk_gb']:.1f} GB Parquet (zstd) |
| batch of {BATCH:,} in a 7x7 deg field (half on catalog rows), cold (loads {b['loaded']:.0f} partitions) | {cold} |
| same batch, partitions cached | {b['warm_s'] * 1e3:.1f} ms ({BATCH / b['warm_s']:,.0f} alerts/s) |
| same matches as astropy on the touched partitions | {'yes' if b['equal'] else 'NO'} ({b['hits']:,} matches) |
| peak RSS: generate / build / query (whole child process) | {rss} |

Memory stays bounded by the build chunk (2M rows) plus one partition, and at query time by the
partition cache (20M rows here): nothing ever holds the whole catalog.
"""
    record("crossmatch", "Crossmatch: msb vs astropy", COMMAND, body)


if __name__ == "__main__":
    main()
