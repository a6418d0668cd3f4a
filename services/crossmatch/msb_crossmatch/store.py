"""The catalog store: HEALPix-ordered, HATS-style partitioned Parquet plus a JSON manifest.

Layout of one catalog (``<store>/<name>/``)::

    manifest.json                    name, columns, radius, rows, partitions, source fingerprint
    Norder=<p>/Npix=<pix>.parquet    rows of one order-p HEALPix cell, sorted by nested index (order 29)

``p`` is the smallest order whose average cell holds at most ``max_partition_rows`` rows, so
VSX (1.9M rows) is 12 files and a 10^9-row catalog is ~3,000 files of ~300k rows. A catalog of at
most ``eager_rows`` rows is loaded whole and indexed once; a larger one is opened lazily and a
batch loads only the partitions its cones touch, through a cache bounded by a row budget.
Building is chunked (spill per partition, then sort each partition), so it runs in memory
bounded by the chunk size plus the largest partition.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cdshealpix.nested import lonlat_to_healpix, neighbours

from msb_crossmatch.ingest import CatalogError, Chunk, Columns, read_chunks
from msb_crossmatch.sky import ARCSEC, ZoneIndex

FORMAT = "msb-catalog/1"
HPX_ORDER = 29  # nested index stored per row: the finest order, so any coarser order is a shift
MAX_PARTITION_ROWS = 1_000_000
EAGER_ROWS = 20_000_000
CACHE_ROWS = 40_000_000


@dataclass
class Manifest:
    name: str
    radius_arcsec: float
    rows: int
    partition_order: int
    partitions: dict[str, int]  # pix (as text, JSON keys) -> rows
    columns: dict[str, str | None]  # our column -> source column (ra, dec, label, id, radius)
    sources: list[dict[str, object]]  # path, bytes, mtime of each input file
    note: str = ""
    dropped_rows: int = 0
    max_radius_arcsec: float | None = None  # cap of per-row radii
    build_seconds: float = 0.0
    built_at: str = ""
    format: str = FORMAT
    fingerprint: str = ""

    @property
    def has_label(self) -> bool:
        return self.columns.get("label") is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise CatalogError(f"{path}: not an msb catalog manifest (format {data.get('format')!r})")
        return cls(**data)


def build_spec(name: str, cols: Columns, radius_arcsec: float, max_radius_arcsec: float | None = None,
               skip_invalid: bool = False, max_partition_rows: int = MAX_PARTITION_ROWS) -> dict[str, object]:
    """The build options a store depends on: with the sources, they make its fingerprint. `build`
    and the up-to-date check of the default set both call this, so they cannot disagree."""
    return {"name": name, "cols": asdict(cols), "radius": radius_arcsec, "max_radius": max_radius_arcsec,
            "skip_invalid": skip_invalid, "max_partition_rows": max_partition_rows}


def source_fingerprint(paths: Iterable[Path], spec: dict[str, object]) -> tuple[list[dict[str, object]], str]:
    """What the built store depends on: each file's size and mtime, and the ingestion options."""
    sources = []
    for p in paths:
        st = Path(p).stat()
        sources.append({"path": str(Path(p).resolve()), "bytes": st.st_size, "mtime": int(st.st_mtime)})
    digest = hashlib.sha256(json.dumps([sources, spec, FORMAT], sort_keys=True).encode()).hexdigest()[:16]
    return sources, digest


def partition_order(rows: int, max_rows: int = MAX_PARTITION_ROWS) -> int:
    order = 0
    while rows / (12 * 4**order) > max_rows and order < 10:
        order += 1
    return order


def _hpx(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return lonlat_to_healpix(ra * u.deg, dec * u.deg, HPX_ORDER).astype(np.uint64)


def _chunk_table(chunk: Chunk, hpx: np.ndarray, sel: np.ndarray | slice):
    cols = {"_hpx": pa.array(hpx[sel]), "ra": pa.array(chunk.ra[sel]), "dec": pa.array(chunk.dec[sel])}
    if chunk.label is not None:
        cols["label"] = pa.array(chunk.label[sel], type=pa.string())
    if chunk.id is not None:
        cols["id"] = pa.array(chunk.id[sel], type=pa.string())
    if chunk.radius is not None:
        cols["radius"] = pa.array(chunk.radius[sel])
    return pa.table(cols)


def build(name: str, paths: list[Path], cols: Columns, radius_arcsec: float, store: Path,
          note: str = "", skip_invalid: bool = False, max_radius_arcsec: float | None = None,
          max_partition_rows: int = MAX_PARTITION_ROWS, expected_rows: int | None = None,
          progress: Callable[[int], None] | None = None) -> Manifest:
    """Ingests the files into ``store/name`` (replacing any previous build atomically)."""

    if not name.replace("_", "").replace("-", "").isalnum():
        raise CatalogError(f"catalog name {name!r}: use letters, digits, '-' and '_' only")
    if not radius_arcsec > 0:
        raise CatalogError(f"radius must be positive (got {radius_arcsec})")
    for p in paths:
        if not Path(p).is_file():
            raise CatalogError(f"{p}: no such file")
    t0 = time.perf_counter()
    spec = build_spec(name, cols, radius_arcsec, max_radius_arcsec, skip_invalid, max_partition_rows)
    sources, digest = source_fingerprint(paths, spec)
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f".{name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    spill = tmp / "spill"
    try:
        # Pass 1: validate, index and spill each chunk into coarse cells (order of the final
        # partitioning is unknown until the row count is; spill at order 10 cells' parents later).
        spill_order = partition_order(expected_rows, max_partition_rows) if expected_rows else None
        chunks: list = []
        rows = dropped = 0
        n_spilled = 0
        for chunk in read_chunks(paths, cols, skip_invalid=skip_invalid):
            hpx = _hpx(chunk.ra, chunk.dec)
            rows += len(hpx)
            dropped += chunk.dropped
            if spill_order is None:
                chunks.append((chunk, hpx))
            else:
                _spill(spill, chunk, hpx, spill_order, n_spilled)
                n_spilled += 1
            if progress:
                progress(len(hpx))
        if rows == 0:
            raise CatalogError(f"{', '.join(map(str, paths))}: no rows with valid positions")
        order = spill_order if spill_order is not None else partition_order(rows, max_partition_rows)
        shift = np.uint64(2 * (HPX_ORDER - order))
        outdir = tmp / f"Norder={order}"
        outdir.mkdir(parents=True)
        partitions: dict[str, int] = {}
        if spill_order is None:
            table = pa.concat_tables([_chunk_table(c, h, slice(None)) for c, h in chunks])
            chunks.clear()
            table = table.take(pa.array(np.argsort(table["_hpx"].to_numpy(), kind="stable")))
            pix = table["_hpx"].to_numpy() >> shift
            bounds = np.flatnonzero(np.diff(pix)) + 1
            starts = np.concatenate([[0], bounds])
            ends = np.concatenate([bounds, [len(pix)]])
            for s, e in zip(starts, ends, strict=True):
                p = int(pix[s])
                pq.write_table(table.slice(s, e - s), outdir / f"Npix={p}.parquet", compression="zstd")
                partitions[str(p)] = int(e - s)
        else:
            for cell in sorted(spill.iterdir(), key=lambda d: int(d.name)):
                part = pa.concat_tables([pq.read_table(f) for f in sorted(cell.iterdir())])
                part = part.take(pa.array(np.argsort(part["_hpx"].to_numpy(), kind="stable")))
                pq.write_table(part, outdir / f"Npix={cell.name}.parquet", compression="zstd")
                partitions[cell.name] = part.num_rows
                shutil.rmtree(cell)
        shutil.rmtree(spill, ignore_errors=True)
        manifest = Manifest(
            name=name, radius_arcsec=float(radius_arcsec), rows=rows, partition_order=order,
            partitions=partitions,
            columns={"ra": cols.ra, "dec": cols.dec, "label": cols.label, "id": cols.id, "radius": cols.radius},
            sources=sources, note=note, dropped_rows=dropped, max_radius_arcsec=max_radius_arcsec,
            build_seconds=round(time.perf_counter() - t0, 3),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), fingerprint=digest,
        )
        (tmp / "manifest.json").write_text(manifest.to_json())
        final = store / name
        old = store / f".{name}.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _spill(spill: Path, chunk: Chunk, hpx: np.ndarray, order: int, n: int) -> None:
    pix = hpx >> np.uint64(2 * (HPX_ORDER - order))
    sort = np.argsort(pix, kind="stable")
    spix = pix[sort]
    bounds = np.flatnonzero(np.diff(spix)) + 1
    for s, e in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(spix)]]), strict=True):
        cell = spill / str(int(spix[s]))
        cell.mkdir(parents=True, exist_ok=True)
        pq.write_table(_chunk_table(chunk, hpx, sort[s:e]), cell / f"{n:06d}.parquet", compression="none")


def list_catalogs(store: Path) -> list[Manifest]:
    if not store.is_dir():
        return []
    out = []
    for d in sorted(store.iterdir()):
        m = d / "manifest.json"
        if d.is_dir() and not d.name.startswith(".") and m.is_file():
            out.append(Manifest.load(m))
    return out


# ----------------------------------------------------------------------------- loaded catalogs


@dataclass
class Slice:
    """Rows in memory with their zone index (index order), and the values matches report."""

    index: ZoneIndex
    label: np.ndarray | None
    id: np.ndarray | None
    radius: np.ndarray | None  # arcsec, per row


@dataclass
class Matches:
    """One catalog's matches for a batch: parallel arrays, one entry per (alert, row) pair."""

    alert: np.ndarray
    sep_arcsec: np.ndarray
    label: np.ndarray  # object: label text, or None
    id: np.ndarray  # object: id text, or None
    ra: np.ndarray = field(default_factory=lambda: np.empty(0))
    dec: np.ndarray = field(default_factory=lambda: np.empty(0))


def _load_slice(files: list[Path], zone_height_deg: float) -> Slice:
    table = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
    if table is None or table.num_rows == 0:
        return Slice(ZoneIndex(np.empty(0), np.empty(0), zone_height_deg), None, None, None)
    idx = ZoneIndex(table["ra"].to_numpy(), table["dec"].to_numpy(), zone_height_deg)
    o = idx.order

    def col(name: str) -> np.ndarray | None:
        if name not in table.column_names:
            return None
        arr = table[name].to_numpy(zero_copy_only=False)
        return arr[o]

    return Slice(idx, col("label"), col("id"), col("radius"))


class Catalog:
    """A built catalog opened for matching: whole in memory, or by partitions on demand."""

    def __init__(self, path: Path, eager_rows: int = EAGER_ROWS, cache_rows: int = CACHE_ROWS) -> None:
        t0 = time.perf_counter()
        self.path = path
        self.manifest = Manifest.load(path / "manifest.json")
        self.name = self.manifest.name
        self.order = self.manifest.partition_order
        self.cache_rows = cache_rows
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, Slice] = OrderedDict()
        self._cached_rows = 0
        self.partitions_loaded = 0
        self.eager = self.manifest.rows <= eager_rows
        self._zone_h = max(self.search_radius_arcsec() * 4, 10.0) * ARCSEC
        self._all: Slice | None = None
        if self.eager:
            self._all = _load_slice(self._files(self.manifest.partitions), self._zone_h)
        self.load_seconds = time.perf_counter() - t0

    @property
    def rows(self) -> int:
        return self.manifest.rows

    def search_radius_arcsec(self, radius: float | None = None) -> float:
        """Radius the search must reach: the given one, or the largest per-row radius."""
        if radius is not None:
            return radius
        m = self.manifest
        if m.columns.get("radius") and m.max_radius_arcsec:
            return max(m.max_radius_arcsec, m.radius_arcsec)
        return m.radius_arcsec

    def _files(self, pixels: Iterable[str | int]) -> list[Path]:
        return [self.path / f"Norder={self.order}" / f"Npix={p}.parquet" for p in pixels]

    def match(self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float | None = None) -> Matches:
        """All (alert, row) pairs within the radius (per-row radii apply when no radius is given)."""
        search = self.search_radius_arcsec(radius_arcsec)
        if self._all is not None:
            return self._match_slice(self._all, np.arange(len(ra)), ra, dec, search, radius_arcsec is None)
        parts = []
        for pix, alerts in self._touched(ra, dec, search).items():
            sl = self._partition(pix)
            parts.append(self._match_slice(sl, alerts, ra[alerts], dec[alerts], search, radius_arcsec is None))
        if not parts:
            e = np.empty(0)
            return Matches(e.astype(np.int64), e, e.astype(object), e.astype(object))
        return Matches(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("alert", "sep_arcsec", "label", "id", "ra", "dec")))

    def work(self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float | None = None,
             limit: int | None = None) -> np.ndarray:
        """Per alert, what `match` would examine (ZoneIndex.work; a lower bound once over `limit`).
        A lazy catalog loads and indexes whole partitions, so there each alert carries its share of
        the rows of the partitions its cone touches (the alerts touching a partition split its rows):
        an upper bound of the candidates, known from the manifest without reading a file."""
        search = self.search_radius_arcsec(radius_arcsec)
        if self._all is not None:
            return self._all.index.work(ra, dec, search * ARCSEC, limit)
        share = np.zeros(len(ra))
        for pix, alerts in self._touched(ra, dec, search).items():
            share[alerts] += self.manifest.partitions[str(pix)] / len(alerts)
        return np.ceil(share).astype(np.int64)

    def _match_slice(self, sl: Slice, alerts: np.ndarray, ra: np.ndarray, dec: np.ndarray,
                     search: float, per_row: bool) -> Matches:
        pairs = sl.index.search(ra, dec, search * ARCSEC)
        a, r, sep = pairs.alert, pairs.row, pairs.sep_arcsec
        if per_row and sl.radius is not None:
            own = np.where(np.isfinite(sl.radius[r]), sl.radius[r], self.manifest.radius_arcsec)
            ok = sep <= np.minimum(own, search)
            a, r, sep = a[ok], r[ok], sep[ok]
        none = np.full(len(r), None, dtype=object)
        return Matches(alerts[a], sep, sl.label[r] if sl.label is not None else none,
                       sl.id[r] if sl.id is not None else none, sl.index.ra[r], sl.index.dec[r])

    def _touched(self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> dict[int, np.ndarray]:
        """Partitions each cone may overlap: the 3x3 block of the alert's cell at an order q whose
        cells are >= 8x the radius (so the block covers the cone), mapped up to the partition order."""

        q = self.order
        while q < HPX_ORDER and math.degrees(math.sqrt(4 * math.pi / (12 * 4 ** (q + 1)))) * 3600 >= 8 * radius_arcsec:
            q += 1
        pix = lonlat_to_healpix(ra * u.deg, dec * u.deg, q).astype(np.int64)
        block = neighbours(pix, q).astype(np.int64)  # (n, 9), -1 where a corner has only 7 neighbours
        alert = np.repeat(np.arange(len(ra)), 9)
        cell = block.ravel()
        ok = cell >= 0
        part = cell[ok] >> (2 * (q - self.order))
        alert = alert[ok]
        key = np.unique(part * (np.int64(1) << 32) + alert)
        part, alert = key >> 32, key & ((np.int64(1) << 32) - 1)
        present = np.isin(part, np.array([int(p) for p in self.manifest.partitions], dtype=np.int64))
        part, alert = part[present], alert[present]
        out: dict[int, np.ndarray] = {}
        if len(part):
            bounds = np.flatnonzero(np.diff(part)) + 1
            for s, e in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(part)]]), strict=True):
                out[int(part[s])] = alert[s:e]
        return out

    def _partition(self, pix: int) -> Slice:
        with self._lock:
            sl = self._cache.get(pix)
            if sl is not None:
                self._cache.move_to_end(pix)
                return sl
        sl = _load_slice(self._files([pix]), self._zone_h)
        with self._lock:
            self.partitions_loaded += 1
            self._cache[pix] = sl
            self._cached_rows += len(sl.index)
            while self._cached_rows > self.cache_rows and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_rows -= len(old.index)
        return sl


def open_catalogs(store: Path, names: list[str] | None = None, **kwargs: int) -> dict[str, Catalog]:
    """Opens the named catalogs (all built ones when None); a missing name is an error."""
    built = {m.name: m for m in list_catalogs(store)}
    if names is None:
        names = sorted(built)
    missing = [n for n in names if n not in built]
    if missing:
        raise CatalogError(f"catalog(s) {', '.join(missing)} not built in {store}; built: "
                           f"{', '.join(sorted(built)) or 'none'} (run 'msb catalog build-defaults' or "
                           "'msb catalog add')")
    return {n: Catalog(store / n, **kwargs) for n in names}
