"""Our matches equal astropy's (search_around_sky, match_to_catalog_sky) on the same inputs."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord, search_around_sky

from msb_crossmatch.ingest import Columns
from msb_crossmatch.sky import ZoneIndex, angular_separation_deg, nearest
from msb_crossmatch.store import Catalog, build


def sky_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))


def hard_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered where matching goes wrong: RA 0/360, both poles, the dec zone edges, exact poles."""
    parts = [
        (rng.uniform(-0.01, 0.01, n) % 360, rng.uniform(-80, 80, n)),  # RA wrap
        (rng.uniform(0, 360, n), rng.uniform(89.97, 90, n)),  # north pole cap
        (rng.uniform(0, 360, n), rng.uniform(-90, -89.97, n)),  # south pole cap
        (np.array([0.0, 359.9999999, 180.0, 0.0]), np.array([90.0, -90.0, 0.0, 0.0])),
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def jitter(rng: np.random.Generator, ra: np.ndarray, dec: np.ndarray, arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    c = SkyCoord(ra * u.deg, dec * u.deg)
    moved = c.directional_offset_by(rng.uniform(0, 360, len(ra)) * u.deg, rng.uniform(0, arcsec, len(ra)) * u.arcsec)
    return moved.ra.deg, moved.dec.deg


def astropy_pairs(ra, dec, cra, cdec, radius_arcsec):
    a, c = SkyCoord(ra * u.deg, dec * u.deg), SkyCoord(cra * u.deg, cdec * u.deg)
    ia, ic, sep, _ = search_around_sky(a, c, radius_arcsec * u.arcsec)
    return set(zip(ia.tolist(), ic.tolist(), strict=True)), sep.arcsec, (ia, ic)


@pytest.mark.parametrize("radius", [1.0, 60.0, 600.0])
def test_all_pairs_equal_astropy_random_and_hard(radius: float) -> None:
    rng = np.random.default_rng(int(radius))
    n_hard = int(3000 / max(radius, 1) ** 0.5)  # pole clusters match all-to-all at large radii
    cra, cdec = np.concatenate([sky_points(rng, 40_000), hard_points(rng, n_hard)], axis=1)
    ra, dec = np.concatenate([jitter(rng, cra[:5000], cdec[:5000], radius * 1.5),
                              hard_points(rng, n_hard), sky_points(rng, 3_000)], axis=1)
    idx = ZoneIndex(cra, cdec, max(radius * 4, 10) / 3600)
    p = idx.search(ra, dec, radius / 3600)
    ours = np.sort(p.alert * len(cra) + idx.order[p.row])
    a, c = SkyCoord(ra * u.deg, dec * u.deg), SkyCoord(cra * u.deg, cdec * u.deg)
    ia, ic, _, _ = search_around_sky(a, c, radius * u.arcsec)
    theirs = np.sort(ia.astype(np.int64) * len(cra) + ic)
    assert len(theirs) > 1000  # the comparison is not vacuous
    np.testing.assert_array_equal(ours, theirs)
    # separations agree with astropy's to far below a milli-arcsecond
    sep_ap = SkyCoord(ra[p.alert] * u.deg, dec[p.alert] * u.deg).separation(
        SkyCoord(cra[idx.order[p.row]] * u.deg, cdec[idx.order[p.row]] * u.deg)).arcsec
    np.testing.assert_allclose(p.sep_arcsec, sep_ap, atol=1e-6)


def test_nearest_equals_match_to_catalog_sky_on_real_positions(xm, ztf_alerts) -> None:
    """Real ZTF alert positions, and positions jittered around real VSX stars, against VSX."""
    cat = xm.catalogs["vsx"]
    cra, cdec = cat._all.index.ra, cat._all.index.dec  # index order
    rng = np.random.default_rng(7)
    pick = rng.integers(0, len(cra), 20_000)
    jra, jdec = jitter(rng, cra[pick], cdec[pick], 2.5)
    ra = np.concatenate([[a["candidate"]["ra"] for a in ztf_alerts], jra])
    dec = np.concatenate([[a["candidate"]["dec"] for a in ztf_alerts], jdec])
    idx = ZoneIndex(cra, cdec, 10 / 3600)
    row, sep = nearest(idx.search(ra, dec, 1.5 / 3600), len(ra))
    i, d2, _ = SkyCoord(ra * u.deg, dec * u.deg).match_to_catalog_sky(SkyCoord(cra * u.deg, cdec * u.deg))
    within = d2.arcsec <= 1.5
    assert within.sum() > 5000 and within[:498].sum() > 50  # real alerts do sit on VSX stars
    np.testing.assert_array_equal(np.where(within, i, -1), np.where(row >= 0, idx.order[np.maximum(row, 0)], -1))
    np.testing.assert_allclose(sep[within], d2.arcsec[within], atol=1e-6)


def test_vincenty_separation_is_exact_at_all_scales() -> None:
    rng = np.random.default_rng(3)
    ra1, dec1 = sky_points(rng, 5000)
    ra2, dec2 = sky_points(rng, 5000)
    ours = angular_separation_deg(ra1, dec1, ra2, dec2)
    theirs = SkyCoord(ra1 * u.deg, dec1 * u.deg).separation(SkyCoord(ra2 * u.deg, dec2 * u.deg)).deg
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert angular_separation_deg(np.array([359.9999]), np.array([0.0]), np.array([0.0001]), np.array([0.0]))[0] \
        == pytest.approx(0.0002, abs=1e-12)


def test_partitioned_catalog_loads_only_touched_cells_and_equals_astropy(tmp_path: Path) -> None:
    """A catalog opened lazily (as one far larger than memory would be) gives astropy's pairs,
    including across partition edges, the RA wrap and the poles, and loads only the cells touched."""
    rng = np.random.default_rng(11)
    cra, cdec = np.concatenate([sky_points(rng, 200_000), hard_points(rng, 5_000)], axis=1)
    src = tmp_path / "synthetic.parquet"
    pd.DataFrame({"ra": cra, "dec": cdec, "name": np.arange(len(cra)).astype(str)}).to_parquet(src)
    # expected_rows takes the chunked path (spill per cell, then sort each) used for huge catalogs
    m = build("synth", [src], Columns("ra", "dec", id="name"), 2.0, tmp_path / "store", max_partition_rows=2_000,
              expected_rows=len(cra))
    assert m.partition_order == 2 and len(m.partitions) == 192 and m.rows == len(cra)
    cat = Catalog(tmp_path / "store" / "synth", eager_rows=0, cache_rows=50_000)
    assert not cat.eager
    ra, dec = np.concatenate([jitter(rng, cra[-5000:], cdec[-5000:], 3.0), hard_points(rng, 500)], axis=1)
    got = cat.match(ra, dec)
    ours = set(zip(got.alert.tolist(), got.id.astype(int).tolist(), strict=True))
    theirs, _, _ = astropy_pairs(ra, dec, cra, cdec, 2.0)
    assert len(theirs) > 2000
    assert ours == theirs
    # a small patch of sky touches only a few partitions
    before = cat.partitions_loaded
    cat2 = Catalog(tmp_path / "store" / "synth", eager_rows=0)
    pra, pdec = rng.uniform(40, 41, 1000), rng.uniform(10, 11, 1000)
    cat2.match(pra, pdec)
    assert 0 < cat2.partitions_loaded <= 6 < len(m.partitions)
    assert before > 0
