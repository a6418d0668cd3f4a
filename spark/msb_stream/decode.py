"""Decoded alerts as flat, typed columns: the one schema every output of the stream job uses.

Packets are decoded by the columnar decoder (msb.avro.columnar) straight into Arrow columns; each
survey adapter (msb.surveys) derives its columns with pyarrow.compute (ZTF candidate fields keep
their names; Rubin's diaSource fills the shared ones and adds its own); this module types those
columns for Arrow and Spark, adds what the job derives, runs the quality cut and the filters on the
batch, and encodes the ``processed`` records of the alerts that pass. No Python object is made per
alert on the way, except the filters' pandas view (Arrow-backed columns) and the output messages.

Everything here is plain Python/pyarrow so that the Spark job, the benchmark's plain loop and
the tests run the same code.
"""

from __future__ import annotations

import base64
import functools
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from msb.avro import SchemaStore
from msb.avro.columnar import ColumnarDecoder
from msb.kafka import sent_ns
from msb.schemas import processed
from msb.surveys import ADAPTERS, route, target
from msb.surveys.common import CUTOUT_COLUMNS, PRV_FIELDS
from msb_stream import quality as quality_mod

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
_RESULT_COLUMNS = [("quality_pass", "bool"), ("error", "string"), ("raw", "binary"), ("processed", "binary"),
                   ("fallback", "bool")]  # decoded by fastavro: the compiled plan could not apply


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


# ----------------------------------------------------------------------------- derived columns

_JD_UNIX_EPOCH = 2440587.5
_US_PER_DAY = 86_400_000_000


def nights(jd: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """UTC date (YYYYMMDD) of Julian dates: the archive's partition."""
    us = pc.cast(pc.round(pc.multiply(pc.subtract(jd, _JD_UNIX_EPOCH), _US_PER_DAY)), pa.int64())
    return pc.strftime(pc.cast(us, pa.timestamp("us")), format="%Y%m%d")


@functools.cache
def survey_columns(survey: str) -> frozenset[str]:
    """The columns a survey's alerts fill: what its adapter derives from a decoded batch, plus the
    night and the Kafka metadata. Derived from the adapter itself, so it cannot drift from what the
    rows hold."""
    empty = pa.RecordBatch.from_pylist([], schema=target(str(survey)).schema)
    return frozenset(ADAPTERS[str(survey)].derive(empty).column_names) | {"night", "topic", "partition", "offset",
                                                                        "msb_sent_ns"}


def _pandas_type(t: pa.DataType) -> Any:
    """Numbers as numpy columns (NaN for null: fast pandas arithmetic); text, booleans and lists as
    Arrow-backed columns (no Python object per value)."""
    return None if pa.types.is_integer(t) or pa.types.is_floating(t) else pd.ArrowDtype(t)


def filter_frame(table: pa.Table) -> pd.DataFrame:
    """What a user filter's ``keep`` receives: the batch's alerts as a pandas frame."""
    return table.to_pandas(types_mapper=_pandas_type)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table with exactly the schema's columns, in order: missing ones null."""
    n = table.num_rows
    have = set(table.column_names)
    return pa.table([table.column(f.name).cast(f.type) if f.name in have else pa.nulls(n, f.type) for f in schema],
                    schema=schema)


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
    """Kafka messages -> one flat batch with quality flag, filters passed and processed payload."""

    def __init__(self, settings: DecodeSettings) -> None:
        from msb_stream.filters import compile_filters, declared_columns  # msb_stream.filters imports this module

        self.settings = settings
        store = None
        if settings.schema_dir or settings.schema_registry:
            store = SchemaStore(settings.schema_dir, settings.schema_registry)
        self.decoder = ColumnarDecoder([target(name, settings.keep_cutouts) for name in ADAPTERS],
                                       route, store)
        self.schema = arrow_schema(settings.keep_cutouts)
        self.encoder = processed.encoder()
        self.filters = compile_filters(settings.filters)
        self.filter_columns = declared_columns(settings.filters)

    def decode(self, values: Sequence[bytes | None], meta: dict[str, pa.Array]) -> pa.Table:
        """One row per message, in message order: the decoded alert, or ``error`` and ``raw``."""
        decoded = self.decoder.decode(values)
        parts, order = [], []
        errors = list(decoded.errors)
        for name, (rows, raw) in decoded.batches.items():
            table = ADAPTERS[name].derive(raw)
            unnamed = pc.or_(pc.is_null(table.column("candid")), pc.is_null(table.column("objectId"))).to_numpy(
                zero_copy_only=False)
            if unnamed.any():
                errors += [(int(i), "alert has no candid/objectId") for i in rows[unnamed]]
                table, rows = table.filter(pa.array(~unnamed)), rows[~unnamed]
            table = table.append_column("night", nights(table.column("jd")))
            table = table.append_column("fallback", pa.array(np.isin(rows, decoded.fallbacks)))
            parts.append(self._with_meta(table, meta, rows))
            order.append(rows)
        if errors:
            rows = np.array([i for i, _ in errors], dtype=np.int64)
            bad = pa.table({"error": pa.array([reason for _, reason in errors], pa.string()),
                            "raw": pa.array([values[i] for i in rows], pa.binary())})
            parts.append(self._with_meta(bad, meta, rows))
            order.append(rows)
        if not parts:
            return self.schema.empty_table()
        table = pa.concat_tables(parts)
        return table.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))

    def _with_meta(self, table: pa.Table, meta: dict[str, pa.Array], rows: np.ndarray) -> pa.Table:
        index = pa.array(rows)
        for name, values in meta.items():
            table = table.append_column(name, values.take(index))
        return conform(table, self.schema)

    def finish(self, table: pa.Table) -> pa.RecordBatch:
        """Quality cut and filters on the batch, then the processed payloads of what passed."""
        ok = pc.is_null(table.column("error"))
        quality = pc.and_(quality_mod.mask(table, self.settings.quality), ok)
        passed_rows = np.flatnonzero(quality.to_numpy(zero_copy_only=False))
        passed = table.take(pa.array(passed_rows))
        flags = self._filters(passed)
        filters = self._filter_lists(flags, passed.num_rows)
        passed = passed.set_column(passed.schema.get_field_index("filters"), "filters", filters)
        processed = self.encoder.encode(passed)
        n = table.num_rows
        # Every decoded alert gets its filters (empty where it failed the cut); error rows none.
        all_filters = pc.if_else(ok, pa.scalar([], pa.list_(pa.string())), None)
        all_filters = _scatter(all_filters, passed_rows, filters)
        payload = _scatter(pa.nulls(n, pa.binary()), passed_rows, pa.array(processed, pa.binary()))
        quality = pc.if_else(ok, quality, None)
        out = table.set_column(table.schema.get_field_index("quality_pass"), "quality_pass", quality)
        out = out.set_column(out.schema.get_field_index("filters"), "filters", all_filters)
        out = out.set_column(out.schema.get_field_index("processed"), "processed", payload)
        return out.combine_chunks().to_batches()[0] if n else pa.RecordBatch.from_pylist([], schema=self.schema)

    def _filters(self, passed: pa.Table) -> dict[str, np.ndarray]:
        """Each filter's mask over the alerts that passed the cut (pandas frame, Arrow-backed columns)."""
        if not self.filters or passed.num_rows == 0:
            return {name: np.zeros(passed.num_rows, dtype=bool) for name in self.filters}
        cols = self.filter_columns if self.filter_columns is not None else passed.column_names
        frame = filter_frame(passed.select([c for c in passed.column_names if c in cols]))
        return {name: np.asarray(fn(frame).fillna(False).astype(bool), dtype=bool) for name, fn in self.filters.items()}

    def _filter_lists(self, flags: dict[str, np.ndarray], n: int) -> pa.Array:
        """Per alert, the names of the filters it passed (list<string>)."""
        names = list(flags)
        if not names:
            return pa.array([[]] * n, pa.list_(pa.string()))
        grid = np.stack([flags[name] for name in names], axis=1)  # alerts x filters
        alert, which = np.nonzero(grid)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(alert, minlength=n), out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(names, pa.string()).take(pa.array(which)))

    def messages(self, msgs: list[Any]) -> pa.RecordBatch:
        """confluent-kafka messages -> flat batch (the fused source: no Arrow copy of the raw packets)."""
        meta = {"topic": pa.array([m.topic() for m in msgs], pa.string()),
                "partition": pa.array([m.partition() for m in msgs], pa.int32()),
                "offset": pa.array([m.offset() for m in msgs], pa.int64()),
                "msb_sent_ns": pa.array([sent_ns(m.headers()) for m in msgs], pa.int64())}
        return self.finish(self.decode([m.value() for m in msgs], meta))

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The mapInArrow function: Kafka-shaped batches in, flat batches out."""
        for batch in batches:
            meta = {"topic": batch.column("topic"), "partition": batch.column("partition").cast(pa.int32()),
                    "offset": batch.column("offset").cast(pa.int64()),
                    "msb_sent_ns": pa.array([sent_ns(h) for h in batch.column("headers").to_pylist()], pa.int64())}
            yield self.finish(self.decode(batch.column("value").to_pylist(), meta))


def _scatter(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``base`` with ``values`` put at ``rows`` (rows ascending)."""
    if len(rows) == 0:
        return base
    index = np.full(len(base), -1, dtype=np.int64)
    index[rows] = np.arange(len(rows))
    taken = values.take(pa.array(np.where(index >= 0, index, 0)))
    return pc.if_else(pa.array(index >= 0), taken, base)


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
