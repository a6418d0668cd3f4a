"""One batch through every catalog and the rules: the columns of the output contract."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from msb_crossmatch.rules import Classifier, simbad_labels, simbad_labels_file
from msb_crossmatch.sky import Pairs, nearest
from msb_crossmatch.store import Catalog, Matches, open_catalogs

# The alert fields the rules may read besides the matches (rules.yaml `when:` conditions); the
# service takes them from each alert and the HTTP API from each request position.
EVIDENCE = ("ssdistnr", "ndethist", "sgscore1", "distpsnr1", "classtar")


@dataclass
class BatchResult:
    """Per alert: classification, reason and per catalog `xm_<name>` / `xm_<name>_sep` columns."""

    n: int
    classification: np.ndarray
    reason: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)  # alerts with a match, per catalog
    matches: dict[str, Matches] = field(default_factory=dict)
    seconds: float = 0.0


def display_value(m: Matches, i: np.ndarray) -> np.ndarray:
    """The output value of matches i: the label, or the id where the catalog has no label."""
    label, ident = m.label[i], m.id[i]
    out = np.where(np.array([v is not None for v in label], dtype=bool), label, ident)
    missing = np.array([v is None for v in out], dtype=bool)
    if missing.any():  # neither label nor id: a J2000 name from the matched position
        out[missing] = [f"J{r:.5f}{d:+.5f}" for r, d in zip(m.ra[i][missing], m.dec[i][missing], strict=True)]
    return out


class Crossmatcher:
    """Catalogs opened once, plus the classifier; thread-safe for concurrent batches."""

    def __init__(self, catalogs: dict[str, Catalog], classifier: Classifier | None = None,
                 remote: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
        self.catalogs = catalogs
        self.classifier = classifier or Classifier()
        self.remote = remote  # optional CDS xMatch: (ra, dec) -> SIMBAD type per alert (or 'Fail')

    @classmethod
    def open(cls, store: Path, names: list[str] | None = None, **kwargs: object) -> Crossmatcher:
        catalogs = open_catalogs(store, names)
        if "classifier" not in kwargs:
            labels = simbad_labels_file(store)
            # An empty store (a chart installed without catalog sources) classifies every alert
            # Unknown: then there are no catalog types to normalise, and no labels are needed.
            otypes = simbad_labels(labels) if catalogs or labels.is_file() else {}
            kwargs["classifier"] = Classifier(otypes=otypes)
        return cls(catalogs, **kwargs)  # type: ignore[arg-type]

    @property
    def names(self) -> list[str]:
        names = list(self.catalogs)
        return names + (["simbad"] if self.remote else [])

    def work(self, ra: np.ndarray, dec: np.ndarray, catalogs: list[str] | None = None,
             radius_arcsec: float | None = None, limit: int | None = None) -> np.ndarray:
        """Per alert, the zone intervals and candidate rows `run` would examine over the catalogs
        (Catalog.work). Counting stops at the first catalog that takes the total over `limit`:
        the sum is then a lower bound, already over it."""
        ra = np.asarray(ra, dtype=np.float64)
        dec = np.asarray(dec, dtype=np.float64)
        total = np.zeros(len(ra), dtype=np.int64)
        for name in catalogs or list(self.catalogs):
            left = None if limit is None else max(limit - int(total.sum()), 0)
            total += self.catalogs[name].work(ra, dec, radius_arcsec, left)
            if limit is not None and int(total.sum()) > limit:
                break
        return total

    def run(self, ra: np.ndarray, dec: np.ndarray, evidence: dict[str, np.ndarray] | None = None,
            catalogs: list[str] | None = None, radius_arcsec: float | None = None) -> BatchResult:
        t0 = time.perf_counter()
        ra = np.asarray(ra, dtype=np.float64)
        dec = np.asarray(dec, dtype=np.float64)
        n = len(ra)
        cols: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}
        hits: dict[str, int] = {}
        all_matches: dict[str, Matches] = {}
        for name in catalogs or list(self.catalogs):
            m = self.catalogs[name].match(ra, dec, radius_arcsec)
            all_matches[name] = m
            best, sep = _nearest(m, n)
            value = np.full(n, None, dtype=object)
            has = best >= 0
            value[has] = display_value(m, best[has])
            label = value  # rules see the catalog's type, or any match where it has no type column
            if self.catalogs[name].manifest.has_label:
                label = np.full(n, None, dtype=object)
                label[has] = m.label[best[has]]
            cols[f"xm_{name}"] = value
            cols[f"xm_{name}_sep"] = sep
            labels[name] = label
            hits[name] = int(has.sum())
        if self.remote is not None and catalogs is None:
            simbad = self.remote(ra, dec)
            cols["xm_simbad"] = simbad
            cols["xm_simbad_sep"] = np.full(n, np.nan)
            labels["simbad"] = np.array([None if v in (None, "Fail") else v for v in simbad], dtype=object)
            hits["simbad"] = int(sum(v not in (None, "Fail") for v in simbad))
        cls, reason = self.classifier.classify(evidence or {}, labels, n)
        return BatchResult(n, cls, reason, cols, hits, all_matches, time.perf_counter() - t0)


def _nearest(m: Matches, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index into m of each alert's nearest match (-1 if none) and its separation."""
    return nearest(Pairs(m.alert, np.arange(len(m.alert)), m.sep_arcsec), n)
