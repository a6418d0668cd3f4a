"""The alert model shared by every component: which survey, which key, which visit.

Surveys differ in field names; this module knows none of them: it dispatches to the packet's survey
adapter (msb.surveys), which owns them. Importable without numpy and pyarrow (the replay's image):
only ``summary`` needs them, through the adapters' Arrow functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msb.avro import AlertDecoder, WriterSchema
from msb.surveys import Survey, adapter_of, prefix_of
from msb.surveys import cutouts as _cutouts
from msb.surveys import summary as _summary

__all__ = ["PacketInfo", "Survey", "cutouts", "packet_info", "summary", "survey_of"]


def survey_of(ws: WriterSchema) -> Survey:
    """The survey that writes packets of this writer schema (AlertDecodeError for none)."""
    return Survey(adapter_of(ws.name).NAME)


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """What routing and pacing need from one packet (msb.surveys.common.Routing, and whose it is)."""

    survey: Survey
    alert_id: int  # the alert's id (ZTF's candid, Rubin's diaSourceId)
    key: bytes  # the object's id: one object's alerts stay in one partition
    visit: str  # same exposure
    jd: float  # exposure time, for --speed pacing
    schema_name: str


def packet_info(decoder: AlertDecoder, msg: bytes) -> PacketInfo:
    """Key, visit and time of one packet, reading as little of it as possible."""
    ws = decoder.writer_schema(msg)[0]
    adapter = adapter_of(ws.name)
    _, fields = decoder.prefix(msg, adapter.PREFIX_FIELDS)
    if fields is None:  # unusual field order: decode the whole record instead
        fields = prefix_of(decoder.decode(msg), adapter.PREFIX_FIELDS)
    return PacketInfo(Survey(adapter.NAME), *adapter.routing(fields), ws.name)


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The columns an astronomer looks at first, the same for every survey: a selection of the
    survey adapter's flat row (msb.surveys)."""
    return _summary(rec)


def cutouts(rec: dict[str, Any]) -> dict[str, bytes | None]:
    """The science, template and difference stamps (gzipped or plain FITS bytes)."""
    return _cutouts(rec)
