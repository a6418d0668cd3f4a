"""The default catalog set, built from ../shared/data/catalogs (idempotent: skipped when up to date)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from msb import paths
from msb_crossmatch.ingest import Columns
from msb_crossmatch.rules import SIMBAD_LABELS
from msb_crossmatch.store import Manifest, build, build_spec, source_fingerprint


@dataclass(frozen=True)
class Spec:
    name: str
    files: tuple[str, ...]  # relative to the shared catalogs folder
    cols: Columns
    radius: float  # arcsec
    note: str
    max_radius: float | None = None
    skip_invalid: bool = False


DEFAULTS: tuple[Spec, ...] = (
    Spec("gcvs", ("fink_science/gcvs.parquet",), Columns("ra", "dec", label="VarType"), 1.5,
         "General Catalogue of Variable Stars"),
    Spec("vsx", ("fink_science/vsx.parquet",), Columns("RAJ2000", "DEJ2000", label="VType"), 1.5,
         "AAVSO VSX variable stars"),
    Spec("spicy", ("fink_science/spicy.parquet",), Columns("RAdeg", "DEdeg", label="class"), 1.2,
         "SPICY young stellar objects"),
    Spec("gaia", ("gaia_hipparcos/gaia_dr3_bright_merged.parquet",), Columns("ra", "dec", id="source_id"), 1.0,
         "Gaia DR3 bright stars (G < 10)"),
    Spec("hipparcos", ("gaia_hipparcos/hipparcos2.parquet",), Columns("ra", "dec", id="HIP"), 1.0,
         "Hipparcos-2 stars"),
    # OpenNGC majax is the major-axis diameter in arcmin: x30 gives the semi-major axis in arcsec;
    # objects without a size get the 60" default, and huge ones (the LMC) are capped at 30'.
    Spec("openngc", ("openngc/openngc_objects.parquet",),
         Columns("ra", "dec", label="type", id="name", radius="majax", radius_scale=30.0), 60.0,
         "OpenNGC galaxies, clusters and nebulae (radius: semi-major axis, else 60\")", max_radius=1800.0,
         skip_invalid=True),
    Spec("mangrove", ("fink_science/mangrove_filtered.parquet",), Columns("ra", "dec", id="2MASS_name"), 60.0,
         "Mangrove (GLADE) galaxies, candidate hosts"),
    Spec("3hsp", ("fink_science/3hsp.csv",), Columns("R.A.", "Dec", id="3HSP Source name"), 60.0,
         "3HSP high-synchrotron-peaked blazars (sexagesimal positions)"),
    Spec("4lac", ("fink_science/table-4LAC-DR3-h.fits", "fink_science/table-4LAC-DR3-l.fits"),
         Columns("RAJ2000", "DEJ2000", label="CLASS", id="Source_Name"), 60.0,
         "Fermi 4LAC-DR3 blazars, high and low galactic latitude"),
)


def is_current(spec: Spec, source: Path, store: Path) -> bool:
    m = store / spec.name / "manifest.json"
    if not m.is_file():
        return False
    try:
        key = build_spec(spec.name, spec.cols, spec.radius, spec.max_radius, spec.skip_invalid)
        _, digest = source_fingerprint([source / f for f in spec.files], key)
    except FileNotFoundError:
        return False
    return Manifest.load(m).fingerprint == digest


def build_default_catalogs(store: Path, source: Path | None = None, names: list[str] | None = None,
                           force: bool = False, log: Callable[[str], None] | None = None,
                           progress: Callable[[int], None] | None = None) -> list[tuple[Manifest, bool]]:
    """Builds each default catalog unless already current; returns (manifest, built now?) each."""
    source = source or paths.catalogs_dir()
    _copy_simbad_labels(source, store)
    out = []
    for spec in DEFAULTS:
        if names is not None and spec.name not in names:
            continue
        if not force and is_current(spec, source, store):
            out.append((Manifest.load(store / spec.name / "manifest.json"), False))
            if log:
                log(f"{spec.name}: up to date")
            continue
        m = build(spec.name, [source / f for f in spec.files], spec.cols, spec.radius, store, note=spec.note,
                  skip_invalid=spec.skip_invalid, max_radius_arcsec=spec.max_radius, progress=progress)
        if log:
            log(f"{spec.name}: {m.rows:,} rows in {m.build_seconds:.2f} s")
        out.append((m, True))
    return out


def _copy_simbad_labels(source: Path, store: Path) -> None:
    """The service normalises catalog types with SIMBAD's labels: a copy in the store means a
    running service needs its store only, not the shared sources (a container mounts just /catalogs)."""
    labels = source / "simbad" / SIMBAD_LABELS
    if labels.is_file():
        store.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(labels, store / SIMBAD_LABELS)


def default_rows_hint() -> int:
    """About how many rows the default set holds (for a progress bar total)."""
    return 3_027_000
