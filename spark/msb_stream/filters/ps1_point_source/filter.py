"""Point source in Pan-STARRS1: the alert coincides with a PS1 source classified as a star."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"ztf": ("sgscore1", "distpsnr1")}
MIN_SGSCORE = 0.5  # sgscore1: PS1 star/galaxy score of the nearest source, 1 = star
MAX_DIST_ARCSEC = 1.0  # distpsnr1: distance to that source


def keep(alerts: pd.DataFrame) -> pd.Series:
    """sgscore1 > 0.5 and 0 <= distpsnr1 <= 1": variable stars and stellar flares."""
    sg = pd.to_numeric(alerts.get("sgscore1"), errors="coerce")
    dist = pd.to_numeric(alerts.get("distpsnr1"), errors="coerce")
    return ((sg > MIN_SGSCORE) & dist.between(0, MAX_DIST_ARCSEC)).fillna(False).astype(bool)
