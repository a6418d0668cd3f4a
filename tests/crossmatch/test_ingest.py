"""Catalog ingestion: formats, clear errors, idempotent default builds, the `msb catalog` CLI."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from msb.cli import main
from msb_crossmatch.defaults import DEFAULTS, build_default_catalogs
from msb_crossmatch.ingest import CatalogError, Columns
from msb_crossmatch.store import Catalog, build, list_catalogs


def test_missing_column_names_the_columns_there_are(tmp_path: Path) -> None:
    src = tmp_path / "c.parquet"
    pd.DataFrame({"RAJ2000": [1.0], "DEJ2000": [2.0]}).to_parquet(src)
    with pytest.raises(CatalogError, match=r"no column 'ra'.*the file has: RAJ2000, DEJ2000"):
        build("c", [src], Columns("ra", "DEJ2000"), 1.0, tmp_path / "s")


def test_nan_positions_are_refused_with_row_numbers_or_dropped_on_request(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("ra,dec,type\n10,20,EW\n,21,EA\n11,nan,M\n12,22,RRAB\n")
    msg = r"2 rows have a missing or non-numeric position.*rows \[1, 2\].*--skip-invalid"
    with pytest.raises(CatalogError, match=msg):
        build("c", [src], Columns("ra", "dec", label="type"), 1.0, tmp_path / "s")
    m = build("c", [src], Columns("ra", "dec", label="type"), 1.0, tmp_path / "s", skip_invalid=True)
    assert (m.rows, m.dropped_rows) == (2, 2)


def test_wrong_units_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = tmp_path / "rad.parquet"
    pd.DataFrame({"ra": rng.uniform(0, 2 * np.pi, 500), "dec": rng.uniform(-1.5, 1.5, 500)}).to_parquet(src)
    with pytest.raises(CatalogError, match="look like radians; pass --unit rad"):
        build("c", [src], Columns("ra", "dec"), 1.0, tmp_path / "s")
    m = build("c", [src], Columns("ra", "dec", unit="rad"), 1.0, tmp_path / "s")
    assert m.rows == 500
    arcsec = tmp_path / "arcsec.parquet"
    pd.DataFrame({"ra": [10.0, 20.0], "dec": [3600.0 * 45, 7200.0]}).to_parquet(arcsec)
    with pytest.raises(CatalogError, match=r"declinations beyond ±90 .*is it in degrees"):
        build("c", [arcsec], Columns("ra", "dec"), 1.0, tmp_path / "s")
    (tmp_path / "x.bin").write_bytes(b"?")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        build("c", [tmp_path / "x.bin"], Columns("ra", "dec"), 1.0, tmp_path / "s")
    with pytest.raises(CatalogError, match="no such file"):
        build("c", [tmp_path / "absent.parquet"], Columns("ra", "dec"), 1.0, tmp_path / "s")


def test_sexagesimal_csv_and_fits_with_declared_radians(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text('id , name , R.A. , Dec\n1 , "a" , "00 01 16.37" , "+29 35 34.0"\n'
                   '2 , "b" , "12 00 00" , "-45 30 00"\n')  # 3HSP's layout
    m = build("sx", [csv], Columns("R.A.", "Dec", id="name"), 60.0, tmp_path / "s")
    cat = Catalog(tmp_path / "s" / "sx")
    got = cat.match(np.array([0.3182083, 180.0]), np.array([29.5927778, -45.5]))
    assert m.rows == 2 and sorted(got.id.tolist()) == ["a", "b"] and got.sep_arcsec.max() < 0.1
    fits = tmp_path / "t.fits"
    t = Table({"RA": np.radians([10.0, 20.0]), "DE": np.radians([-5.0, 5.0]), "T": ["EW", "M"]})
    t["RA"].unit, t["DE"].unit = "rad", "rad"
    t.write(fits)
    build("f", [fits], Columns("RA", "DE", label="T"), 1.0, tmp_path / "s")
    got = Catalog(tmp_path / "s" / "f").match(np.array([20.0]), np.array([5.0]))
    assert got.label.tolist() == ["M"]


def test_store_is_healpix_ordered_with_a_manifest(store: Path) -> None:
    import pyarrow.parquet as pq

    names = {m.name for m in list_catalogs(store)}
    assert names == {s.name for s in DEFAULTS}
    vsx = next(m for m in list_catalogs(store) if m.name == "vsx")
    assert vsx.rows == 1_933_544 and vsx.columns["label"] == "VType" and vsx.radius_arcsec == 1.5
    assert vsx.build_seconds <= 10  # the budget for indexing VSX
    files = sorted((store / "vsx").glob("Norder=*/Npix=*.parquet"), key=lambda p: int(p.stem.split("=")[1]))
    hpx = np.concatenate([pq.read_table(f, columns=["_hpx"])["_hpx"].to_numpy() for f in files])
    assert len(hpx) == vsx.rows and (np.diff(hpx.astype(np.int64)) >= 0).all()


def test_build_defaults_is_idempotent_and_rebuilds_when_a_source_changes(tmp_path: Path, shared: Path) -> None:
    src = tmp_path / "src"
    (src / "fink_science").mkdir(parents=True)
    gcvs = src / "fink_science" / "gcvs.parquet"
    gcvs.write_bytes((shared / "data/catalogs/fink_science/gcvs.parquet").read_bytes())
    first = build_default_catalogs(tmp_path / "s", src, names=["gcvs"])
    again = build_default_catalogs(tmp_path / "s", src, names=["gcvs"])
    assert [b for _, b in first] == [True] and [b for _, b in again] == [False]
    time.sleep(1.1)
    gcvs.touch()
    assert [b for _, b in build_default_catalogs(tmp_path / "s", src, names=["gcvs"])] == [True]


def test_cli_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "c.csv"
    src.write_text("RA,DEC,KIND\n10,20,EW\n11,21,M\n")
    assert main(["catalog", "add", "mine", str(src), "--ra", "RA", "--dec", "DEC", "--type", "KIND",
                 "--radius", "2", "--catalogs", str(tmp_path / "s")]) == 0
    assert "mine: 2 rows" in capsys.readouterr().out
    assert main(["catalog", "list", "--catalogs", str(tmp_path / "s")]) == 0
    assert "mine" in capsys.readouterr().out
    assert main(["catalog", "add", "bad", str(src), "--ra", "ra", "--dec", "DEC",
                 "--catalogs", str(tmp_path / "s")]) == 2
    assert "no column 'ra'" in capsys.readouterr().err
