"""Reading catalog files (Parquet, FITS, CSV, VOTable) into validated position chunks.

Everything the store needs from a source file passes through :func:`read_chunks`, which yields
bounded chunks (Parquet and CSV are streamed; FITS and VOTable are read whole by astropy) with
positions in degrees, and fails with a message that names the file, the column and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from astropy.coordinates import Angle
from astropy.table import Table

CHUNK_ROWS = 2_000_000
_MISSING = ["", "nan", "NaN", "NAN", "null", "NULL", "None", "--"]
PARQUET = (".parquet", ".pq")
CSV = (".csv", ".tsv", ".txt", ".csv.gz")
ASTROPY = (".fits", ".fit", ".fits.gz", ".fz", ".vot", ".xml", ".votable", ".ecsv")


class CatalogError(ValueError):
    """A catalog file that cannot be ingested; the text says why and what to do."""


@dataclass(frozen=True)
class Columns:
    ra: str
    dec: str
    label: str | None = None
    id: str | None = None
    radius: str | None = None  # per-row match radius (arcsec after radius_scale)
    radius_scale: float = 1.0  # e.g. 30 for a major-axis diameter in arcmin -> radius in arcsec
    unit: str = "auto"  # auto | deg | rad | hourangle (RA hourangle, Dec degrees)

    def needed(self) -> list[str]:
        return [c for c in (self.ra, self.dec, self.label, self.id, self.radius) if c]


@dataclass
class Chunk:
    ra: np.ndarray
    dec: np.ndarray
    label: np.ndarray | None
    id: np.ndarray | None
    radius: np.ndarray | None
    dropped: int = 0


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(CSV):
        return "csv"
    if name.endswith(ASTROPY):
        return "astropy"
    raise CatalogError(f"{path}: unknown catalog format (expected Parquet, FITS, CSV or VOTable by extension)")


def _missing(path: Path, wanted: list[str], have: list[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        shown = ", ".join(have[:40]) + (" ..." if len(have) > 40 else "")
        raise CatalogError(f"{path}: no column {', '.join(map(repr, missing))}; the file has: {shown}")


def _frames(path: Path, cols: Columns) -> Iterator[tuple[pd.DataFrame, dict[str, str]]]:
    """DataFrames of the needed columns, with each column's declared unit where the file has one."""
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    kind = _kind(path)
    wanted = cols.needed()
    if kind == "parquet":

        pf = pq.ParquetFile(path)
        _missing(path, wanted, pf.schema_arrow.names)
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
            yield batch.to_pandas(), {}
    elif kind == "csv":
        sep = "\t" if path.name.lower().endswith(".tsv") else ","
        reader = pd.read_csv(path, sep=sep, skipinitialspace=True, chunksize=CHUNK_ROWS, dtype=str,
                             keep_default_na=False)
        for i, df in enumerate(reader):
            df.columns = [c.strip() for c in df.columns]
            if i == 0:
                _missing(path, wanted, list(df.columns))
            yield df[wanted].apply(lambda s: s.str.strip()), {}
    else:

        try:
            table = Table.read(path)
        except Exception as exc:  # noqa: BLE001 - astropy raises many types for unreadable files
            raise CatalogError(f"{path}: unreadable by astropy: {exc}") from exc
        _missing(path, wanted, list(table.colnames))
        units = {c: str(table[c].unit) for c in wanted if getattr(table[c], "unit", None) is not None}
        df = pd.DataFrame({c: _plain(table[c]) for c in wanted})
        yield df, units


def _plain(col: object) -> np.ndarray:
    arr = np.ma.asarray(col)
    if arr.dtype.kind == "S":
        arr = arr.astype(str)
    if np.ma.is_masked(arr):
        return arr.astype(object).filled(None) if arr.dtype.kind in "US" else arr.astype(float).filled(np.nan)
    return np.asarray(arr)


def _angles(values: pd.Series, what: str, unit: str, declared: str | None, path: Path, name: str) -> np.ndarray:
    """Degrees from numbers (deg or rad) or sexagesimal strings ('00 01 16.37', '12h30m', '+29:35:34')."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        missing = (text.isna() | text.isin(_MISSING)).to_numpy()
        numeric = pd.to_numeric(text.mask(missing), errors="coerce")
        if numeric.notna().sum() == (~missing).sum():
            values = numeric
        else:  # sexagesimal text

            hour = what == "ra" and unit in ("auto", "hourangle")
            out = np.full(len(text), np.nan)
            try:
                ang = Angle(text[~missing].to_numpy(dtype=str), unit="hourangle" if hour else "deg")
            except Exception as exc:  # noqa: BLE001
                raise CatalogError(f"{path}: column {name!r} ({what}) holds text that is neither a number nor "
                                   f"sexagesimal: {exc}") from exc
            out[~missing] = ang.degree
            return out
    deg = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    declared = (declared or "").strip().lower()
    if unit == "rad" or (unit == "auto" and declared in ("rad", "radian", "radians")):
        return np.degrees(deg)
    if unit == "hourangle" and what == "ra":
        return deg * 15.0
    return deg


def read_chunks(paths: list[Path], cols: Columns, skip_invalid: bool = False) -> Iterator[Chunk]:
    """Validated chunks of every file in turn, positions in degrees."""
    offset = 0
    for path in paths:
        for df, units in _frames(Path(path), cols):
            ra = _angles(df[cols.ra], "ra", cols.unit, units.get(cols.ra), path, cols.ra)
            dec = _angles(df[cols.dec], "dec", cols.unit, units.get(cols.dec), path, cols.dec)
            declared_deg = units.get(cols.ra, "").lower() in ("deg", "degree", "degrees")
            _check_units(path, cols, ra, dec, declared_deg)
            bad = ~(np.isfinite(ra) & np.isfinite(dec))
            dropped = int(bad.sum())
            if dropped and not skip_invalid:
                rows = (np.flatnonzero(bad)[:5] + offset).tolist()
                raise CatalogError(f"{path}: {dropped} rows have a missing or non-numeric position "
                                   f"({cols.ra}/{cols.dec}), e.g. rows {rows}; fix the file or pass "
                                   "--skip-invalid to drop them")
            offset += len(df)
            keep = ~bad
            yield Chunk(
                ra=np.mod(ra[keep], 360.0), dec=dec[keep],
                label=_strings(df[cols.label])[keep] if cols.label else None,
                id=_strings(df[cols.id])[keep] if cols.id else None,
                radius=(pd.to_numeric(df[cols.radius], errors="coerce").to_numpy(np.float64, na_value=np.nan)
                        * cols.radius_scale)[keep] if cols.radius else None,
                dropped=dropped,
            )


def _check_units(path: Path, cols: Columns, ra: np.ndarray, dec: np.ndarray, declared_deg: bool) -> None:
    fin_ra, fin_dec = ra[np.isfinite(ra)], dec[np.isfinite(dec)]
    if len(fin_dec) and np.abs(fin_dec).max() > 90.0:
        raise CatalogError(f"{path}: column {cols.dec!r} has declinations beyond ±90 (max |dec| = "
                           f"{np.abs(fin_dec).max():.6g}): is it in degrees? Arcseconds, RA/Dec swapped "
                           f"(--ra {cols.dec} --dec {cols.ra}?) or a wrong column would do this")
    if len(fin_ra) and (fin_ra.min() < -360.0 or fin_ra.max() > 360.0):
        raise CatalogError(f"{path}: column {cols.ra!r} has RA outside [-360, 360] (range "
                           f"{fin_ra.min():.6g}..{fin_ra.max():.6g}): it is not in degrees")
    if (cols.unit == "auto" and not declared_deg and len(fin_ra) >= 100 and fin_ra.min() >= 0
            and fin_ra.max() <= 2 * np.pi and np.abs(fin_dec).max() <= np.pi / 2):
        raise CatalogError(f"{path}: every position is within RA 0..2π and |Dec| <= π/2: these look like "
                           "radians; pass --unit rad (or --unit deg if the catalog really covers so small a patch)")


def _strings(s: pd.Series) -> np.ndarray:
    out = s.astype("string").str.strip()
    out = out.mask(out.isin(_MISSING))
    return out.to_numpy(dtype=object, na_value=None)
