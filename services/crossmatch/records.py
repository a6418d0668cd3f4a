"""Input records (the `processed` topic, or raw alerts) to columns; output records to Avro."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from msb import kafka
from msb.avro import ContainerEncoder
from msb.crossmatch.match import EVIDENCE
from msb.schemas import CLASSIFIED, PROCESSED, field_names, load
from msb.surveys import adapter_for

_CARRIED = ("jd", "ra", "dec", "magpsf", "fid", "band", "ssdistnr", "ndethist", "sgscore1", "distpsnr1")
# What the crossmatch reads from a processed record: the contract must carry it (see the tests).
READ_FIELDS = ("candid", "objectId", "survey", "msb_sent_ns", *_CARRIED, *EVIDENCE)
_INT_FIELDS = {"fid", "ndethist"}


def processed_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A processed record as it is; a raw ZTF/Rubin alert reduced to the same flat fields: its
    survey adapter's row (msb.surveys), of which the crossmatch reads the summary, EVIDENCE and fid."""
    if "candidate" not in rec and "diaSource" not in rec:
        return rec
    adapter = adapter_for(rec)
    row = adapter.row(rec)
    return {**adapter.summary(row), **{k: row.get(k) for k in (*EVIDENCE, "fid")}}


def positions(flat: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The ra and dec columns of flat records (degrees)."""
    return (np.array([r["ra"] for r in flat], dtype=np.float64),
            np.array([r["dec"] for r in flat], dtype=np.float64))


def evidence_columns(flat: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The EVIDENCE columns of flat records, NaN where a record lacks the field."""
    return {k: np.array([np.nan if r.get(k) is None else r[k] for r in flat], dtype=np.float64) for k in EVIDENCE}


def missing_processed_fields() -> list[str]:
    """Fields the crossmatch reads that the processed contract lacks (none, while they agree)."""
    have = set(field_names(PROCESSED))
    return [f for f in dict.fromkeys(READ_FIELDS) if f not in have]


def sent_ns(headers: list[tuple[str, bytes]] | None, rec: dict[str, Any]) -> int | None:
    """The msb_sent_ns header, else the record's field (the stream copies it into processed records)."""
    from_header = kafka.sent_ns(headers)
    if from_header is not None:
        return from_header
    v = rec.get("msb_sent_ns")
    return int(v) if v is not None else None


def output_schema(catalogs: list[str]) -> dict[str, Any]:
    """The classified contract plus xm_ fields for catalogs beyond the default set."""
    schema = load(CLASSIFIED)
    have = {f["name"] for f in schema["fields"]}
    for name in catalogs:
        for field, ftype, doc in ((f"xm_{name}", "string", "label or id of the nearest match"),
                                  (f"xm_{name}_sep", "double", "its separation (arcsec)")):
            if field not in have:
                schema["fields"].append({"name": field, "type": ["null", ftype], "default": None, "doc": doc})
    return schema


def _clean(v: Any, field: str) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if field in _INT_FIELDS and isinstance(v, float):
        return int(v)
    return v


def output_records(flat: list[dict[str, Any]], classification: np.ndarray, reason: np.ndarray,
                   xm: dict[str, np.ndarray], sent: list[int | None], classified_ns: int) -> list[dict[str, Any]]:
    out = []
    for i, rec in enumerate(flat):
        row: dict[str, Any] = {
            "candid": int(rec["candid"]), "objectId": str(rec.get("objectId")),
            "survey": str(rec.get("survey") or "ztf"),
            "classification": str(classification[i]), "classification_reason": str(reason[i]),
            "msb_sent_ns": sent[i], "classified_ns": classified_ns,
        }
        for k in _CARRIED:
            row[k] = _clean(rec.get(k), k)
        for k, col in xm.items():
            row[k] = _clean(col[i], k)
        out.append(row)
    return out


class ContainerWriter(ContainerEncoder):
    """The classified topic's messages: one record per Avro container file (see msb.avro)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema, sync=b"msb-classified-1")


def write_parquet(records: list[dict[str, Any]], schema: dict[str, Any], path: Path) -> None:
    """One Parquet file of classified records, columns in schema order (atomic rename)."""
    types = {"string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64()}
    fields = []
    for f in schema["fields"]:
        t = f["type"][1] if isinstance(f["type"], list) else f["type"]
        fields.append(pa.field(f["name"], types[t], nullable=isinstance(f["type"], list)))
    table = pa.Table.from_pylist(records, schema=pa.schema(fields))
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.rename(path)
