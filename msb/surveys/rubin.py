"""Rubin (LSST): a decoded packet (schemas 10.x, 11.x) to the flat row.

The diaSource fills ZTF's names where they mean the same thing (candid = diaSourceId, objectId =
diaObjectId, jd from midpointMjdTai, magpsf from psfFlux, fid from band, isdiffpos from isNegative)
and adds its own columns; ``prv`` holds the previous diaSources.
"""

from __future__ import annotations

import math
from typing import Any

from msb.surveys.common import CUTOUT_COLUMNS, SUMMARY_FIELDS

NAME = "rubin"
MJD_TO_JD = 2400000.5
RUBIN_BANDS = {"u": 0, "g": 1, "r": 2, "i": 3, "z": 4, "y": 5}

# Rubin diaSource fields kept as columns of their own (the shared ones are mapped above).
RUBIN_COLUMNS = (
    "diaObjectId:long ssObjectId:long visit:long detector:int midpointMjdTai:double band:string "
    "psfFlux:float psfFluxErr:float reliability:float snr:float extendedness:float isDipole:bool"
)
COLUMNS = [tuple(item.split(":")) for item in RUBIN_COLUMNS.split()]


def flux_to_mag(flux_njy: float | None) -> float | None:
    """AB magnitude of a flux in nJy (Rubin reports fluxes, ZTF magnitudes)."""
    if flux_njy is None or not flux_njy > 0:
        return None
    return -2.5 * math.log10(flux_njy) + 31.4


def _mag_err(flux: float | None, err: float | None) -> float | None:
    if flux is None or err is None or not flux > 0:
        return None
    return 1.0857362 * err / flux


def _isdiffpos(src: dict[str, Any]) -> str | None:
    return None if src.get("isNegative") is None else ("f" if src["isNegative"] else "t")


def _jd(src: dict[str, Any]) -> float | None:
    mjd = src.get("midpointMjdTai")
    return None if mjd is None else mjd + MJD_TO_JD


def _prv(src: dict[str, Any]) -> dict[str, Any]:
    return {
        "candid": src.get("diaSourceId"), "jd": _jd(src),
        "fid": RUBIN_BANDS.get(src.get("band") or ""), "magpsf": flux_to_mag(src.get("psfFlux")),
        "sigmapsf": _mag_err(src.get("psfFlux"), src.get("psfFluxErr")), "diffmaglim": None,
        "isdiffpos": _isdiffpos(src), "rb": src.get("reliability"), "ra": src.get("ra"), "dec": src.get("dec"),
    }


def row(rec: dict[str, Any], keep_cutouts: bool = False) -> dict[str, Any]:
    """One decoded Rubin alert as a flat row."""
    src = rec.get("diaSource") or {}
    out = {name: src.get(name) for name, _ in COLUMNS}
    out.update(
        survey=NAME,
        objectId=str(src.get("diaObjectId") or rec.get("diaSourceId")),  # solar-system sources have no diaObject
        candid=rec.get("diaSourceId"),
        jd=_jd(src),
        ra=src.get("ra"), dec=src.get("dec"),
        magpsf=flux_to_mag(src.get("psfFlux")),
        sigmapsf=_mag_err(src.get("psfFlux"), src.get("psfFluxErr")),
        fid=RUBIN_BANDS.get(src.get("band") or ""),
        isdiffpos=_isdiffpos(src),
        prv=[_prv(p) for p in rec.get("prvDiaSources") or ()],
    )
    if keep_cutouts:
        for c in CUTOUT_COLUMNS:
            out[c] = rec.get(c)
    return out


def summary(flat: dict[str, Any]) -> dict[str, Any]:
    """The summary fields of a row (Rubin's band and reliability are columns of their own)."""
    return {k: flat.get(k) for k in SUMMARY_FIELDS}
