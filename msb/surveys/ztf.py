"""ZTF: a decoded packet (schemas 1.8-4.x, and Fink's re-published ``topLevelRecord``) to the flat row.

Candidate fields keep their names; ``prv`` holds the previous detections.
"""

from __future__ import annotations

from typing import Any

from msb.surveys.common import CUTOUT_COLUMNS, PRV_FIELDS, SUMMARY_FIELDS

NAME = "ztf"
# ZTF candidate fields (schemas 3.x and 4.x share these 103), in schema order.
ZTF_CANDIDATE = (
    "jd:double fid:int pid:long diffmaglim:float pdiffimfilename:string programpi:string programid:int "
    "candid:long isdiffpos:string tblid:long nid:int rcid:int field:int xpos:float ypos:float ra:double "
    "dec:double magpsf:float sigmapsf:float chipsf:float magap:float sigmagap:float distnr:float magnr:float "
    "sigmagnr:float chinr:float sharpnr:float sky:float magdiff:float fwhm:float classtar:float "
    "mindtoedge:float magfromlim:float seeratio:float aimage:float bimage:float aimagerat:float "
    "bimagerat:float elong:float nneg:int nbad:int rb:float ssdistnr:float ssmagnr:float ssnamenr:string "
    "sumrat:float magapbig:float sigmagapbig:float ranr:double decnr:double sgmag1:float srmag1:float "
    "simag1:float szmag1:float sgscore1:float distpsnr1:float ndethist:int ncovhist:int jdstarthist:double "
    "jdendhist:double scorr:double tooflag:int objectidps1:long objectidps2:long sgmag2:float srmag2:float "
    "simag2:float szmag2:float sgscore2:float distpsnr2:float objectidps3:long sgmag3:float srmag3:float "
    "simag3:float szmag3:float sgscore3:float distpsnr3:float nmtchps:int rfid:long jdstartref:double "
    "jdendref:double nframesref:int rbversion:string dsnrms:float ssnrms:float dsdiff:float magzpsci:float "
    "magzpsciunc:float magzpscirms:float nmatches:int clrcoeff:float clrcounc:float zpclrcov:float "
    "zpmed:float clrmed:float clrrms:float neargaia:float neargaiabright:float maggaia:float "
    "maggaiabright:float exptime:float drb:float drbversion:string"
)
COLUMNS = [tuple(item.split(":")) for item in ZTF_CANDIDATE.split()]
FID_BANDS = {1: "g", 2: "r", 3: "i"}


def row(rec: dict[str, Any], keep_cutouts: bool = False) -> dict[str, Any]:
    """One decoded ZTF alert as a flat row."""
    cand = rec.get("candidate") or {}
    out = {name: cand.get(name) for name, _ in COLUMNS}
    out["survey"] = NAME
    out["objectId"] = rec.get("objectId")
    out["candid"] = rec.get("candid") if rec.get("candid") is not None else cand.get("candid")
    out["schemavsn"] = rec.get("schemavsn")
    out["prv"] = [{n: p.get(n) for n, _ in PRV_FIELDS} for p in rec.get("prv_candidates") or ()]
    if keep_cutouts:
        for c in CUTOUT_COLUMNS:
            stamp = rec.get(c)
            out[c] = stamp.get("stampData") if isinstance(stamp, dict) else stamp
    return out


def summary(flat: dict[str, Any]) -> dict[str, Any]:
    """The summary fields of a row: ZTF's band is its filter id's letter, its reliability the
    deep real/bogus score where there is one, else rb (the row keeps all three as they are)."""
    out = {k: flat.get(k) for k in SUMMARY_FIELDS}
    out["band"] = FID_BANDS.get(flat.get("fid"), str(flat.get("fid")))
    out["reliability"] = flat["drb"] if flat.get("drb") is not None else flat.get("rb")
    return out
