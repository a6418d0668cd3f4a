"""Decoded alerts as flat, typed rows: the one schema every output of the stream job uses.

ZTF and Rubin alerts are flattened into the same columns by their survey adapters (msb.surveys:
ZTF candidate fields keep their names; Rubin's diaSource fills the shared ones and adds its own);
this module types those columns for Arrow and Spark and adds what the job derives.

Everything here is plain Python/pyarrow so that the Spark job, the benchmark's plain loop and
the tests run the same code.
"""

from __future__ import annotations

import base64
import datetime as dt
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from msb.alert import Survey, survey_of
from msb.avro import AlertDecodeError, AlertDecoder, ContainerEncoder, SchemaStore
from msb.kafka import sent_ns
from msb.schemas import PROCESSED, load
from msb.stream.quality import passes
from msb.surveys import ADAPTERS
from msb.surveys.common import CUTOUT_COLUMNS, PRV_FIELDS

_ARROW = {
    "double": pa.float64(), "float": pa.float32(), "int": pa.int32(), "long": pa.int64(),
    "string": pa.string(), "bool": pa.bool_(), "binary": pa.binary(),
}
_SPARK = {"double": "double", "float": "float", "int": "int", "long": "bigint", "string": "string",
          "bool": "boolean", "binary": "binary"}

# Where each row came from, and what the job derived.
_META_COLUMNS = [("survey", "string"), ("objectId", "string"), ("schemavsn", "string"), ("night", "string"),
                 ("topic", "string"), ("partition", "int"), ("offset", "long"), ("msb_sent_ns", "long")]
# Per-row outcome: quality cut, filters passed, the processed-topic payload, or why decoding failed.
_RESULT_COLUMNS = [("quality_pass", "bool"), ("error", "string"), ("raw", "binary"), ("processed", "binary")]


def _columns(keep_cutouts: bool) -> list[tuple[str, str]]:
    seen = {name for name, _ in _META_COLUMNS}
    cols = list(_META_COLUMNS)
    for name, kind in (col for adapter in ADAPTERS.values() for col in adapter.COLUMNS):
        if name not in seen:
            cols.append((name, kind))
            seen.add(name)
    if keep_cutouts:
        cols += [(c, "binary") for c in CUTOUT_COLUMNS]
    return cols + _RESULT_COLUMNS


def flat_columns(keep_cutouts: bool = False) -> list[str]:
    """Every column of a decoded row, in schema order."""
    return arrow_schema(keep_cutouts).names


def arrow_schema(keep_cutouts: bool = False) -> pa.Schema:
    prv = pa.list_(pa.struct([(n, _ARROW[k]) for n, k in PRV_FIELDS]))
    fields = [pa.field(n, _ARROW[k]) for n, k in _columns(keep_cutouts)]
    fields.insert(len(_columns(keep_cutouts)) - len(_RESULT_COLUMNS), pa.field("prv", prv))
    fields.insert(len(fields) - len(_RESULT_COLUMNS), pa.field("filters", pa.list_(pa.string())))
    return pa.schema(fields)


def spark_ddl(keep_cutouts: bool = False) -> str:
    """The same schema as a Spark DDL string (for mapInArrow)."""
    prv = "array<struct<" + ",".join(f"{n}:{_SPARK[k]}" for n, k in PRV_FIELDS) + ">>"
    cols = [f"`{n}` {_SPARK[k]}" for n, k in _columns(keep_cutouts)]
    cols.insert(len(cols) - len(_RESULT_COLUMNS), f"`prv` {prv}")
    cols.insert(len(cols) - len(_RESULT_COLUMNS), "`filters` array<string>")
    return ", ".join(cols)


# ----------------------------------------------------------------------------- flattening


def night_of(jd: float | None) -> str | None:
    """UTC date (YYYYMMDD) of a Julian date: the archive's partition."""
    if jd is None:
        return None
    return (dt.datetime(1970, 1, 1) + dt.timedelta(days=jd - 2440587.5)).strftime("%Y%m%d")


def stream_row(rec: dict[str, Any], survey: Survey, keep_cutouts: bool = False) -> dict[str, Any]:
    """One decoded alert as a flat row: its survey adapter's row (msb.surveys), plus the night."""
    row = ADAPTERS[survey].row(rec, keep_cutouts)
    row["night"] = night_of(row.get("jd"))
    return row


def survey_columns(survey: Survey) -> frozenset[str]:
    """The columns a survey's alerts fill: the keys its row mapping sets, plus the Kafka metadata.
    Derived from stream_row itself, so it cannot drift from what the rows hold."""
    return frozenset(stream_row({}, survey)) | {"topic", "partition", "offset", "msb_sent_ns"}


# ----------------------------------------------------------------------------- processed topic

class ProcessedEncoder(ContainerEncoder):
    """The processed topic's messages (the crossmatch contract): ``msb/schemas/processed.avsc``."""

    def __init__(self) -> None:
        super().__init__(load(PROCESSED), sync=b"msb-processed-v1")


# ----------------------------------------------------------------------------- the batch function


@dataclass
class DecodeSettings:
    """What every decoding worker needs; small and picklable (shipped to Spark executors)."""

    keep_cutouts: bool = False
    schema_dir: str | None = None
    schema_registry: str | None = None
    quality: list[tuple[str, str, float]] = field(default_factory=list)  # see quality.py
    filters: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (path, source)


class BatchDecoder:
    """Kafka rows -> flat rows with quality flag, filters passed and processed payload."""

    def __init__(self, settings: DecodeSettings) -> None:
        from msb.stream.filters import compile_filters  # here: msb.stream.filters imports this module

        self.settings = settings
        store = None
        if settings.schema_dir or settings.schema_registry:
            store = SchemaStore(settings.schema_dir, settings.schema_registry)
        self.decoder = AlertDecoder(store)
        self.schema = arrow_schema(settings.keep_cutouts)
        self.encoder = ProcessedEncoder()
        self.filters = compile_filters(settings.filters)

    def decode_rows(self, values: Iterable[bytes | None], meta: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for value, m in zip(values, meta, strict=True):
            try:
                if value is None:
                    raise AlertDecodeError("empty message (null value)")
                ws, datum = self.decoder.writer_schema(value)  # the header, parsed once per message
                row = stream_row(self.decoder.read(ws, datum), survey_of(ws), self.settings.keep_cutouts)
                if row.get("candid") is None or row.get("objectId") is None:
                    raise AlertDecodeError("alert has no candid/objectId")
            except AlertDecodeError as exc:
                row = {"error": str(exc), "raw": value}
            except Exception as exc:  # noqa: BLE001 - any failure of one message is a dead letter
                row = {"error": f"{type(exc).__name__}: {exc}", "raw": value}
            row.update(m)
            rows.append(row)
        return rows

    def finish(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        """Quality cut and filters (vectorised with pandas), then the processed payloads."""
        ok = [r for r in rows if r.get("error") is None]
        if ok:
            frame = pd.DataFrame.from_records(ok, columns=self.schema.names)
            quality = passes(frame, self.settings.quality)
            flags = {name: fn(frame).fillna(False).astype(bool) & quality for name, fn in self.filters.items()}
            for i, r in enumerate(ok):
                r["quality_pass"] = bool(quality.iat[i])
                r["filters"] = [name for name, f in flags.items() if f.iat[i]]
                if r["quality_pass"]:
                    r["processed"] = self.encoder.encode(r)
        return pa.RecordBatch.from_pylist(rows, schema=self.schema)

    def messages(self, msgs: list[Any]) -> pa.RecordBatch:
        """confluent-kafka messages -> flat batch (the fused source: no Arrow copy of the raw packets)."""
        meta = [{"topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                 "msb_sent_ns": sent_ns(m.headers())} for m in msgs]
        return self.finish(self.decode_rows([m.value() for m in msgs], meta))

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The mapInArrow function: Kafka-shaped batches in, flat batches out."""
        for batch in batches:
            cols = batch.select(["topic", "partition", "offset", "headers", "value"]).to_pydict()
            meta = [
                {"topic": t, "partition": p, "offset": o, "msb_sent_ns": sent_ns(h)}
                for t, p, o, h in zip(cols["topic"], cols["partition"], cols["offset"], cols["headers"], strict=True)
            ]
            yield self.finish(self.decode_rows(cols["value"], meta))


# One decoder per settings per Python worker: Spark reuses workers across tasks and batches, so
# writer schemas, filters and the output encoder are prepared once, not per task. The cache is
# module-level (not in a closure, which cloudpickle would ship by value, empty, with each task).
_DECODERS: dict[str, BatchDecoder] = {}


def settings_option(settings: DecodeSettings) -> str:
    """DecodeSettings as one string (Spark data source options and closures carry strings well)."""
    return base64.b64encode(pickle.dumps(settings)).decode()


def settings_from_option(option: str) -> DecodeSettings:
    return pickle.loads(base64.b64decode(option))  # noqa: S301 - written by settings_option above


def decode_batches(option: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Kafka-shaped Arrow batches -> flat decoded batches, with this worker's cached decoder."""
    yield from cached_decoder(option)(batches)


def cached_decoder(option: str) -> BatchDecoder:
    """This worker's decoder for these settings, built on first use."""
    dec = _DECODERS.get(option)
    if dec is None:
        dec = _DECODERS[option] = BatchDecoder(settings_from_option(option))
    return dec
