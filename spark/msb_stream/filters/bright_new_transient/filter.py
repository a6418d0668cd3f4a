"""Bright new transient: a bright positive source first seen at this position very recently."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"ztf": ("isdiffpos", "magpsf", "jd", "jdstarthist", "sgscore1", "distpsnr1", "ssdistnr")}
MAX_MAG = 18.5  # brighter than this (magpsf)
MAX_AGE_DAYS = 3.0  # jd - jdstarthist: first detection at this position at most 3 days ago
STAR_DIST_ARCSEC = 1.5
STAR_SGSCORE = 0.5
SSO_DIST_ARCSEC = 5.0


def keep(alerts: pd.DataFrame) -> pd.Series:
    """isdiffpos 't', magpsf < 18.5, jd - jdstarthist <= 3 d, no PS1 star within 1.5", not a known SSO."""
    num = {c: pd.to_numeric(alerts.get(c), errors="coerce") for c in
           ("magpsf", "jd", "jdstarthist", "sgscore1", "distpsnr1", "ssdistnr")}
    bright = num["magpsf"] < MAX_MAG
    new = (num["jd"] - num["jdstarthist"]) <= MAX_AGE_DAYS
    star = (num["sgscore1"] > STAR_SGSCORE) & num["distpsnr1"].between(0, STAR_DIST_ARCSEC)
    sso = num["ssdistnr"].between(0, SSO_DIST_ARCSEC, inclusive="left")
    positive = alerts["isdiffpos"].isin(["t", "1"])
    return (positive & bright & new & ~star & ~sso).fillna(False).astype(bool)
