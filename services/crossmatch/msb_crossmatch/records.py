"""Input messages (the `processed` topic, or raw ZTF/Rubin alerts) to columns; output columns to Avro.

The input is decoded by the columnar decoder (msb.avro.columnar) with the processed contract
compiled once: out come Arrow columns, and from them the numpy arrays the matcher takes, with no
Python object per alert. Raw alerts go through their survey adapter's projection and derivation,
then the same selection. The classified contract and its encoder are the core's
(msb.schemas.classified); this module builds its columns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from msb.avro import SchemaStore, WriterSchema
from msb.avro.columnar import ColumnarDecoder, Target
from msb.avro.plan import Column, Projection
from msb.schemas.processed import SCHEMA as PROCESSED
from msb.surveys import ADAPTERS, route, target
from msb_crossmatch.match import EVIDENCE, BatchResult

_CARRIED = ("jd", "ra", "dec", "magpsf", "fid", "band", "ssdistnr", "ndethist", "sgscore1", "distpsnr1")
# What the crossmatch reads from a processed record: the contract must carry it (see the tests).
READ_FIELDS = ("candid", "objectId", "survey", "msb_sent_ns", *_CARRIED, *EVIDENCE)
_KINDS = {"double": "double", "float": "float", "long": "long", "int": "int", "string": "string",
          "boolean": "bool", "bytes": "binary"}
_ARROW = {"string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64()}


def missing_processed_fields() -> list[str]:
    """Fields the crossmatch reads that the processed contract lacks (none, while they agree)."""
    have = {f["name"] for f in PROCESSED["fields"]}
    return [f for f in dict.fromkeys(READ_FIELDS) if f not in have]


@functools.cache
def processed_target() -> Target:
    """The READ_FIELDS of the processed contract, typed as the contract types them."""
    types = {}
    for f in PROCESSED["fields"]:
        t = f["type"]
        types[f["name"]] = t[1 - t.index("null")] if isinstance(t, list) else t
    return Target("processed", Projection(tuple(Column(n, n, _KINDS[types[n]]) for n in dict.fromkeys(READ_FIELDS))))


def input_decoder(schemas: SchemaStore | None = None) -> ColumnarDecoder:
    """Processed records, and raw ZTF and Rubin alerts (told apart by their writer schema's name)."""
    processed = fastavro.parse_schema(PROCESSED)["name"]  # its full name, as writers' headers carry it

    def target_of(ws: WriterSchema) -> str:
        return "processed" if ws.name == processed else route(ws)

    return ColumnarDecoder([processed_target(), *(target(name) for name in ADAPTERS)], target_of, schemas)


@dataclass
class Inputs:
    """A batch of input messages as columns: one row per readable message (``rows``: its index)."""

    table: pa.Table  # READ_FIELDS, typed as the processed contract types them
    rows: np.ndarray
    errors: list[tuple[int, str]]

    def column(self, name: str) -> np.ndarray:
        """A numeric column as float64, NaN where null (what the matcher takes)."""
        return pc.fill_null(pc.cast(self.table.column(name), pa.float64()), np.nan).to_numpy()

    def evidence(self) -> dict[str, np.ndarray]:
        return {k: self.column(k) for k in EVIDENCE}


def read_inputs(decoder: ColumnarDecoder, values: list[bytes | None]) -> Inputs:
    """Decodes a batch; a message without candid, ra or dec is an error like an undecodable one."""
    decoded = decoder.decode(values)
    schema = processed_target().schema
    parts, order = [], []
    errors = list(decoded.errors)
    for name, (rows, raw) in decoded.batches.items():
        if name == "processed":
            table = pa.Table.from_batches([raw])
        else:  # a raw alert: its survey's flat row, of which the summary, the evidence and fid
            adapter = ADAPTERS[name]
            derived = adapter.derive(raw)
            summary = adapter.summary(derived)
            table = summary.append_column("fid", derived.column("fid"))
            for k in EVIDENCE:
                table = table.append_column(k, derived.column(k) if k in derived.column_names
                                            else pa.nulls(len(derived)))
        table = pa.table([table.column(f.name).cast(f.type) if f.name in table.column_names
                          else pa.nulls(table.num_rows, f.type) for f in schema], schema=schema)
        lacking = pc.or_(pc.or_(pc.is_null(table.column("candid")), pc.is_null(table.column("ra"))),
                         pc.is_null(table.column("dec"))).to_numpy(zero_copy_only=False)
        if lacking.any():
            errors += [(int(i), "record lacks candid, ra or dec") for i in rows[lacking]]
            table, rows = table.filter(pa.array(~lacking)), rows[~lacking]
        parts.append(table)
        order.append(rows)
    if not parts:
        return Inputs(schema.empty_table(), np.zeros(0, np.int64), errors)
    rows = np.concatenate(order)
    sort = np.argsort(rows, kind="stable")
    return Inputs(pa.concat_tables(parts).take(pa.array(sort)), rows[sort], sorted(errors))


# ----------------------------------------------------------------------------- output


def arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    """The classified contract as Arrow types (the Parquet copy's schema)."""
    fields = []
    for f in schema["fields"]:
        t = f["type"][1] if isinstance(f["type"], list) else f["type"]
        fields.append(pa.field(f["name"], _ARROW[t], nullable=isinstance(f["type"], list)))
    return pa.schema(fields)


def _strings(values: np.ndarray) -> pa.Array:
    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are numbers: written as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def classified_table(inputs: Inputs, res: BatchResult, sent: np.ndarray, classified_ns: int,
                     schema: pa.Schema) -> pa.Table:
    """The classified records of a batch, one column per contract field (missing catalogs null)."""
    t = inputs.table
    n = t.num_rows
    cols: dict[str, Any] = {
        "candid": t.column("candid"),
        "objectId": t.column("objectId"),
        "survey": pc.fill_null(t.column("survey"), "ztf"),
        "classification": _strings(res.classification),
        "classification_reason": _strings(res.reason),
        "msb_sent_ns": pa.array(sent, pa.int64(), mask=sent < 0),
        "classified_ns": pa.repeat(pa.scalar(classified_ns, pa.int64()), n),
    }
    for k in _CARRIED:
        cols[k] = t.column(k)
    for k, values in res.columns.items():
        cols[k] = pa.array(values, pa.float64(), from_pandas=True) if k.endswith("_sep") else _strings(values)
    return pa.table([cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema],
                    schema=schema)


def write_parquet(table: pa.Table, path: Path) -> None:
    """One Parquet file of classified records (atomic rename)."""
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.rename(path)
