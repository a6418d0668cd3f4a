"""Rubin high reliability: Rubin diaSources the real/bogus model is very sure of."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"rubin": ("survey", "reliability")}
MIN_RELIABILITY = 0.9


def keep(alerts: pd.DataFrame) -> pd.Series:
    """survey == 'rubin' and reliability >= 0.9."""
    rel = pd.to_numeric(alerts.get("reliability"), errors="coerce")
    return ((alerts["survey"] == "rubin") & (rel >= MIN_RELIABILITY)).fillna(False).astype(bool)
