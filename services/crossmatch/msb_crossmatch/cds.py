"""Optional remote backend: the CDS xMatch service (SIMBAD), as Fink calls it. Off by default.

One HTTP request per batch; any failure (timeout, HTTP error, unreadable answer) labels the
whole batch 'Fail' and counts it, so a dead remote shows instead of passing silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import numpy as np
import requests

CDS_XMATCH_URL = "http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync"
FAIL = "Fail"


class CdsXmatch:
    def __init__(self, url: str = CDS_XMATCH_URL, radius_arcsec: float = 1.0, timeout: float = 10.0,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.radius = radius_arcsec
        self.timeout = timeout
        self.on_failure = on_failure
        self.last_error: str | None = None

    def __call__(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        n = len(ra)
        out = np.full(n, None, dtype=object)
        if n == 0:
            return out
        table = "id,ra,dec\n" + "".join(f"{i},{r:.8f},{d:.8f}\n" for i, (r, d) in enumerate(zip(ra, dec, strict=True)))
        try:
            resp = requests.post(
                self.url,
                data={"request": "xmatch", "distMaxArcsec": self.radius, "selection": "best",
                      "RESPONSEFORMAT": "csv", "cat2": "simbad", "colRA1": "ra", "colDec1": "dec"},
                files={"cat1": ("alerts.csv", table)}, timeout=self.timeout,
            )
            resp.raise_for_status()
            rows = list(csv.DictReader(io.StringIO(resp.text)))
            if rows and ("id" not in rows[0] or "main_type" not in rows[0]):
                raise ValueError(f"answer lacks id/main_type columns: {list(rows[0])[:8]}")
            for row in rows:
                i = int(row["id"])
                if 0 <= i < n and out[i] is None:
                    out[i] = row["main_type"].strip() or None
            self.last_error = None
        except Exception as exc:  # noqa: BLE001 - any failure of the remote is a 'Fail' batch
            self.last_error = f"{type(exc).__name__}: {exc}"
            out[:] = FAIL
            if self.on_failure:
                self.on_failure(self.last_error)
        return out
