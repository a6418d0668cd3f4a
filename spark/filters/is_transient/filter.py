"""Is transient: a real, positive, extragalactic-looking new source, not a star nor an asteroid."""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = {"ztf": ("isdiffpos", "sgscore1", "distpsnr1", "ssdistnr", "jd", "prv")}
STAR_SGSCORE = 0.5  # a PS1 source with sgscore1 above this is a star
STAR_DIST_ARCSEC = 1.5  # ...and it must not lie within this distance
MIN_DETECTIONS = 2
MIN_SPAN_DAYS = 30 / (24 * 60)  # the detections at least 30 minutes apart (rules out asteroids)
SSO_DIST_ARCSEC = 5.0


def detection_span(jd: float, prv: Any) -> tuple[int, float]:
    """(number of detections, days between first and last) counting this one and prv detections."""
    jds = [jd] + [p["jd"] for p in (prv if prv is not None else ()) if p.get("magpsf") is not None]
    return len(jds), max(jds) - min(jds)


def keep(alerts: pd.DataFrame) -> pd.Series:
    """isdiffpos 't', no PS1 star within 1.5", >= 2 detections >= 30 min apart, not a known SSO."""
    positive = alerts["isdiffpos"].isin(["t", "1"])
    sg = pd.to_numeric(alerts.get("sgscore1"), errors="coerce")
    dist = pd.to_numeric(alerts.get("distpsnr1"), errors="coerce")
    near_star = (sg > STAR_SGSCORE) & dist.between(0, STAR_DIST_ARCSEC)
    sso = pd.to_numeric(alerts.get("ssdistnr"), errors="coerce").between(0, SSO_DIST_ARCSEC, inclusive="left")
    spans = [detection_span(j, p) for j, p in zip(alerts["jd"], alerts["prv"], strict=True)]
    repeated = pd.Series([n >= MIN_DETECTIONS and s >= MIN_SPAN_DAYS for n, s in spans], index=alerts.index)
    return (positive & ~near_star.fillna(False) & ~sso.fillna(False) & repeated).fillna(False).astype(bool)
