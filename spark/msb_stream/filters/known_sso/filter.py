"""Known solar-system object: the alert lies near a catalogued asteroid or comet."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"ztf": ("ssdistnr",), "rubin": ("ssObjectId",)}
MAX_DIST_ARCSEC = 5.0  # ZTF ssdistnr: distance to the nearest known SSO (-999 when none)


def keep(alerts: pd.DataFrame) -> pd.Series:
    """ZTF: 0 <= ssdistnr < 5"; Rubin: the diaSource is associated with an ssObject."""
    ztf = alerts["ssdistnr"].between(0, MAX_DIST_ARCSEC, inclusive="left") if "ssdistnr" in alerts else False
    rubin = alerts["ssObjectId"].fillna(0).astype("int64") > 0 if "ssObjectId" in alerts else False
    return pd.Series(ztf | rubin, index=alerts.index).fillna(False).astype(bool)
