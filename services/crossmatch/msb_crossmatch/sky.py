"""Spherical geometry and the in-memory search structure: declination zones + RA binary search.

A catalog slice in memory is indexed by the Zones algorithm (Gray, Nieto-Santisteban & Szalay
2007): rows are sorted by (zone, ra) where zone = floor((dec + 90) / h). A cone of radius r
around (ra, dec) can only hold rows of zones z(dec - r) .. z(dec + r) whose RA lies within
asin(sin r / cos dec) of ra, so each (alert, zone) pair is two ``np.searchsorted`` calls on one
sorted key. Intervals that cross RA 0/360 are split in two, and near the poles (|dec| + r >= 90)
the whole zone is scanned. Every candidate is then checked with the exact great-circle distance,
so the result is exact, not approximate: no cell-size assumption is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARCSEC = 1.0 / 3600.0
_PAD_DEG = 1e-7  # widens RA intervals against rounding in the key; the exact check follows
_ZONE_SPAN = 512.0  # key = zone * _ZONE_SPAN + ra: any gap > 360 keeps zones apart
_COUNT_SLICE = 100_000  # zone intervals per slice when counting work (a few MB of temporaries)


def angular_separation_deg(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> np.ndarray:
    """Great-circle distance (deg) by Vincenty's formula, exact at all separations (as astropy)."""
    lon1, lat1, lon2, lat2 = (np.radians(a) for a in (ra1, dec1, ra2, dec2))
    dlon = lon2 - lon1
    sdlon, cdlon = np.sin(dlon), np.cos(dlon)
    slat1, clat1 = np.sin(lat1), np.cos(lat1)
    slat2, clat2 = np.sin(lat2), np.cos(lat2)
    num1 = clat2 * sdlon
    num2 = clat1 * slat2 - slat1 * clat2 * cdlon
    denom = slat1 * slat2 + clat1 * clat2 * cdlon
    return np.degrees(np.arctan2(np.hypot(num1, num2), denom))


@dataclass
class Pairs:
    """Matches as parallel arrays: alert index, catalog row (into the index's own order), sep (arcsec)."""

    alert: np.ndarray
    row: np.ndarray
    sep_arcsec: np.ndarray


class ZoneIndex:
    """Rows sorted by (dec zone, ra) for exact cone searches of a whole batch at once."""

    def __init__(self, ra: np.ndarray, dec: np.ndarray, zone_height_deg: float) -> None:
        ra = np.mod(np.asarray(ra, dtype=np.float64), 360.0)
        dec = np.asarray(dec, dtype=np.float64)
        self.h = float(zone_height_deg)
        self.nzones = int(np.floor(180.0 / self.h)) + 1
        zone = self._zone(dec)
        key = zone * _ZONE_SPAN + ra
        self.order = np.argsort(key, kind="stable")  # row i of the index is input row order[i]
        self.key = key[self.order]
        self.ra = ra[self.order]
        self.dec = dec[self.order]

    def __len__(self) -> int:
        return len(self.key)

    def _zone(self, dec: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((dec + 90.0) / self.h), 0, self.nzones - 1)

    def search(self, ra: np.ndarray, dec: np.ndarray, radius_deg: float | np.ndarray) -> Pairs:
        """Every (alert, row) pair with separation <= radius (scalar, or one radius per alert)."""
        ra = np.mod(np.asarray(ra, dtype=np.float64), 360.0)
        dec = np.asarray(dec, dtype=np.float64)
        n = len(ra)
        r = np.broadcast_to(np.asarray(radius_deg, dtype=np.float64), (n,))
        if n == 0 or len(self.key) == 0:
            empty = np.empty(0, np.int64)
            return Pairs(empty, empty, np.empty(0))
        qi, lo_key, hi_key, wrapped = self._intervals(ra, dec, r)
        order = np.argsort(lo_key, kind="stable")  # sorted queries make searchsorted cache-friendly
        qi, lo_key, hi_key = qi[order], lo_key[order], hi_key[order]
        lo = np.searchsorted(self.key, lo_key, side="left")
        hi = np.searchsorted(self.key, hi_key, side="right")
        counts = hi - lo
        keep = counts > 0
        qi, lo, counts = qi[keep], lo[keep], counts[keep]
        total = int(counts.sum())
        if total == 0:
            empty = np.empty(0, np.int64)
            return Pairs(empty, empty, np.empty(0))
        alert = np.repeat(qi, counts)
        # row = lo of its interval + rank within the interval (the classic repeat/cumsum expansion)
        starts = np.cumsum(counts) - counts
        row = np.repeat(lo - starts, counts) + np.arange(total)
        sep = angular_separation_deg(ra[alert], dec[alert], self.ra[row], self.dec[row])
        ok = sep <= r[alert]
        alert, row = alert[ok], row[ok]
        # intervals never overlap for one alert, but the wrap split at exactly 0/360 could repeat a row
        pairs = Pairs(alert, row, sep[ok] * 3600.0)
        return _dedupe(pairs) if wrapped else pairs

    def work(self, ra: np.ndarray, dec: np.ndarray, radius_deg: float, limit: int | None = None) -> np.ndarray:
        """Per alert, what `search` would examine: its zone intervals plus the candidate rows inside
        them (each candidate gets the exact distance check; time and memory grow with both).
        Counted in slices of alerts, so memory stays small. When the zone intervals alone exceed
        `limit`, they are returned as they are: a lower bound, already over it."""
        ra = np.mod(np.asarray(ra, dtype=np.float64), 360.0)
        dec = np.asarray(dec, dtype=np.float64)
        r = np.broadcast_to(np.asarray(radius_deg, dtype=np.float64), (len(ra),))
        z0, nz = self._zones(dec, r)
        out = nz.copy()
        if len(self.key) == 0 or (limit is not None and int(nz.sum()) > limit):
            return out
        cum = np.cumsum(nz)
        start = 0
        while start < len(ra):
            end = max(int(np.searchsorted(cum, cum[start] - nz[start] + _COUNT_SLICE, side="right")), start + 1)
            qi, lo_key, hi_key, _ = self._intervals(ra[start:end], dec[start:end], r[start:end])
            cand = np.searchsorted(self.key, hi_key, side="right") - np.searchsorted(self.key, lo_key, side="left")
            # intervals (a cone split at RA 0/360 has two per zone) + candidate rows
            out[start:end] = (np.bincount(qi, minlength=end - start)
                              + np.bincount(qi, weights=cand, minlength=end - start).astype(np.int64))
            start = end
        return out

    def _zones(self, dec: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First zone and number of zones each cone overlaps."""
        z0 = self._zone(dec - r).astype(np.int64)
        return z0, self._zone(dec + r).astype(np.int64) - z0 + 1

    def _intervals(
        self, ra: np.ndarray, dec: np.ndarray, r: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(alert, lo key, hi key) per zone interval that the cone of each alert overlaps."""
        z0, nz = self._zones(dec, r)
        polar = np.abs(dec) + r >= 90.0 - 1e-9
        cosd = np.cos(np.radians(dec))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.sin(np.radians(r)) / np.where(polar, 1.0, cosd)
            dra = np.where(polar | (s >= 1.0), 180.0, np.degrees(np.arcsin(np.minimum(s, 1.0))))
        dra = dra + _PAD_DEG
        full = dra >= 180.0
        a_lo = np.where(full, 0.0, ra - dra)
        a_hi = np.where(full, 360.0, ra + dra)
        # an interval crossing 0/360 becomes [0, hi] plus [lo + 360, 360] (or [0, hi - 360] + [lo, 360])
        wrap_lo = ~full & (a_lo < 0.0)
        wrap_hi = ~full & (a_hi > 360.0)
        ia = np.repeat(np.arange(len(ra)), nz)
        zone = np.repeat(z0, nz) + (np.arange(nz.sum()) - np.repeat(np.cumsum(nz) - nz, nz))
        lo1 = np.where(wrap_lo, 0.0, a_lo)[ia]
        hi1 = np.where(wrap_hi, 360.0, a_hi)[ia]
        extra = (wrap_lo | wrap_hi)[ia]
        lo2 = np.where(wrap_lo, a_lo + 360.0, 0.0)[ia][extra]
        hi2 = np.where(wrap_lo, 360.0, a_hi - 360.0)[ia][extra]
        qi = np.concatenate([ia, ia[extra]])
        zk = np.concatenate([zone, zone[extra]]) * _ZONE_SPAN
        wrapped = bool(extra.any())
        return qi, zk + np.concatenate([lo1, lo2]), zk + np.concatenate([hi1, hi2]), wrapped


def _dedupe(p: Pairs) -> Pairs:
    key = p.alert * (np.int64(1) << 32) + p.row
    _, first = np.unique(key, return_index=True)
    first.sort()
    return Pairs(p.alert[first], p.row[first], p.sep_arcsec[first])


def nearest(pairs: Pairs, n_alerts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per alert: the row of its nearest pair (-1 if none) and its separation (NaN if none)."""
    row = np.full(n_alerts, -1, dtype=np.int64)
    sep = np.full(n_alerts, np.nan)
    if len(pairs.alert) == 0:
        return row, sep
    order = np.lexsort((pairs.sep_arcsec, pairs.alert))  # by alert, then by separation
    a = pairs.alert[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    sel = order[first]
    row[pairs.alert[sel]] = pairs.row[sel]
    sep[pairs.alert[sel]] = pairs.sep_arcsec[sel]
    return row, sep
