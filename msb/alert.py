"""The alert model shared by every component: which survey, which key, which visit.

ZTF and Rubin alerts differ in field names; everything downstream asks this module instead of
knowing both layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from msb.avro import AlertDecodeError, AlertDecoder, WriterSchema

# No msb.surveys at import: its adapters need pyarrow and numpy, which the replay (packet_info) lacks.
MJD_TO_JD = 2400000.5  # JD = MJD + 2400000.5 (Rubin's times are MJDs)


class Survey(StrEnum):
    ZTF = "ztf"
    RUBIN = "rubin"


ZTF_SCHEMA_NAMES = ("ztf.alert", "topLevelRecord")  # ZTF 1.8-4.x, and Fink's re-published ZTF


def survey_of(ws: WriterSchema) -> Survey:
    """ZTF writes `ztf.alert`; Fink re-publishes it as `topLevelRecord`; Rubin `lsst.vX_Y.alert`."""
    if ws.name.startswith("lsst.") and ws.name.endswith(".alert"):
        return Survey.RUBIN
    if ws.name in ZTF_SCHEMA_NAMES:
        return Survey.ZTF
    raise AlertDecodeError(f"unknown alert schema {ws.name!r} (neither ZTF nor Rubin)")


# Leading fields the replay needs, readable without a full decode (see avro.PrefixReader).
_PREFIX_FIELDS = {
    Survey.ZTF: frozenset({"objectId", "candid", "candidate.jd"}),
    Survey.RUBIN: frozenset({"diaSourceId", "diaSource.diaObjectId", "diaSource.visit", "diaSource.midpointMjdTai"}),
}


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """What routing and pacing need from one packet."""

    survey: Survey
    alert_id: int  # candid (ZTF) or diaSourceId (Rubin)
    key: bytes  # objectId (ZTF) or diaObjectId (Rubin): one object's alerts stay in one partition
    visit: str  # same exposure: jd (ZTF) or visit id (Rubin)
    jd: float  # exposure time, for --speed pacing
    schema_name: str


def packet_info(decoder: AlertDecoder, msg: bytes) -> PacketInfo:
    """Key, visit and time of one packet, reading as little of it as possible."""
    ws = decoder.writer_schema(msg)[0]
    survey = survey_of(ws)
    _, fields = decoder.prefix(msg, _PREFIX_FIELDS[survey])
    if fields is None:  # unusual field order: decode the whole record instead
        rec = decoder.decode(msg)
        fields = _prefix_from_record(rec, survey)
    if survey is Survey.ZTF:
        jd = fields.get("candidate.jd")
        oid = fields.get("objectId")
        if jd is None or oid is None or fields.get("candid") is None:
            raise AlertDecodeError("ZTF alert lacks objectId, candid or candidate.jd")
        return PacketInfo(survey, int(fields["candid"]), oid.encode(), repr(jd), jd, ws.name)
    mjd = fields.get("diaSource.midpointMjdTai")
    dia_object = fields.get("diaSource.diaObjectId")
    sid = fields.get("diaSourceId")
    if mjd is None or sid is None:
        raise AlertDecodeError("Rubin alert lacks diaSourceId or diaSource.midpointMjdTai")
    visit = fields.get("diaSource.visit")
    key = str(dia_object if dia_object else sid).encode()  # solar-system sources have no diaObject
    return PacketInfo(survey, int(sid), key, str(visit if visit is not None else mjd), mjd + MJD_TO_JD, ws.name)


def _prefix_from_record(rec: dict[str, Any], survey: Survey) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in _PREFIX_FIELDS[survey]:
        node: Any = rec
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[path] = node
    return out


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The columns an astronomer looks at first, the same for both surveys: a selection of the
    survey adapter's flat row (msb.surveys)."""
    from msb.surveys import summary as survey_summary

    return survey_summary(rec)


def cutouts(rec: dict[str, Any]) -> dict[str, bytes | None]:
    """The science, template and difference stamps (gzipped or plain FITS bytes)."""
    out: dict[str, bytes | None] = {}
    for kind in ("Science", "Template", "Difference"):
        stamp = rec.get(f"cutout{kind}")
        if isinstance(stamp, dict):  # ZTF: {fileName, stampData}
            stamp = stamp.get("stampData")
        out[kind.lower()] = stamp
    return out
