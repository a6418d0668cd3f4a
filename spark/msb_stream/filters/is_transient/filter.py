"""Is transient: a real, positive, extragalactic-looking new source, not a star nor an asteroid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = {"ztf": ("isdiffpos", "sgscore1", "distpsnr1", "ssdistnr", "jd", "prv")}
STAR_SGSCORE = 0.5  # a PS1 source with sgscore1 above this is a star
STAR_DIST_ARCSEC = 1.5  # ...and it must not lie within this distance
MIN_DETECTIONS = 2
MIN_SPAN_DAYS = 30 / (24 * 60)  # the detections at least 30 minutes apart (rules out asteroids)
SSO_DIST_ARCSEC = 5.0


def detections(alerts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per alert, (number of detections, days between the first and the last), counting the alert
    itself and its previous detections (prv entries with a magnitude; the others are upper limits)."""
    jd = pd.to_numeric(alerts["jd"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    prv = pa.array(alerts["prv"])
    items = pc.list_flatten(prv)
    parent = pc.list_parent_indices(prv).to_numpy()
    item_jd = pc.struct_field(items, "jd")
    seen = pc.and_(pc.and_(items.is_valid(), pc.struct_field(items, "magpsf").is_valid()), item_jd.is_valid())
    seen = pc.fill_null(seen, False).to_numpy(zero_copy_only=False)
    where, when = parent[seen], item_jd.to_numpy(zero_copy_only=False)[seen]
    count, first, last = np.ones(len(jd)), jd.copy(), jd.copy()
    np.add.at(count, where, 1)
    np.minimum.at(first, where, when)
    np.maximum.at(last, where, when)
    return count, last - first


def keep(alerts: pd.DataFrame) -> pd.Series:
    """isdiffpos 't', no PS1 star within 1.5", >= 2 detections >= 30 min apart, not a known SSO."""
    positive = alerts["isdiffpos"].isin(["t", "1"])
    sg = pd.to_numeric(alerts.get("sgscore1"), errors="coerce")
    dist = pd.to_numeric(alerts.get("distpsnr1"), errors="coerce")
    near_star = (sg > STAR_SGSCORE) & dist.between(0, STAR_DIST_ARCSEC)
    sso = pd.to_numeric(alerts.get("ssdistnr"), errors="coerce").between(0, SSO_DIST_ARCSEC, inclusive="left")
    count, span = detections(alerts)
    repeated = pd.Series((count >= MIN_DETECTIONS) & (span >= MIN_SPAN_DAYS), index=alerts.index)
    return (positive & ~near_star.fillna(False) & ~sso.fillna(False) & repeated).fillna(False).astype(bool)
