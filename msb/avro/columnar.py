"""Alert messages straight into Arrow columns: the broker's hot path.

:class:`ColumnarDecoder` takes a batch of Kafka message values (Avro container files as ZTF sends
them, or the Confluent wire format as Rubin does), finds each one's writer schema (the container
header is matched byte for byte against the headers already seen, so it is parsed once per schema),
and runs that schema's compiled plan (:mod:`msb.avro.plan`) over the datum into typed column
buffers (:mod:`msb.avro._columns`). Out come ``pyarrow.RecordBatch`` es, one per *target*
(a projection: the ZTF columns, the Rubin columns, the processed contract...), no Python object
per alert on the way.

Where the plan cannot apply, the packet goes through fastavro (the fallback, counted): a codec
other than null/deflate, a container holding several records, a schema feature the plan compiler
lacks. Its record is projected in Python, re-encoded with the projection's own flat schema and run
through that schema's plan, so both paths fill the same buffers with the same conversions. Without
the compiled extension every packet takes the fallback path (see ``compiled``).

A corrupt packet becomes one error (its index and the reason); its partial writes are undone and
the rest of the batch is unaffected.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from msb.avro import _columns as ex
from msb.avro.confluent import split_confluent
from msb.avro.container import MAGIC, ContainerDecoder, container_header
from msb.avro.decoder import AlertDecoder
from msb.avro.plan import ITEM, Column, K, ListColumn, Plan, PlanUnsupported, Projection, compile_plan, layout
from msb.avro.registry import SchemaStore
from msb.avro.schema import AlertDecodeError, WriterSchema, read_long, value_at, write_long

ARROW_TYPES = {"double": pa.float64(), "float": pa.float32(), "long": pa.int64(), "int": pa.int32(),
               "bool": pa.bool_(), "string": pa.string(), "binary": pa.binary()}
_AVRO_TYPES = {"double": "double", "float": "float", "long": "long", "int": "int", "bool": "boolean",
               "string": "string", "binary": "bytes"}
_STORE = {"double": 0, "float": 1, "long": 2, "int": 3, "bool": 4}  # export() index of each numeric kind
_INT32_MAX = (1 << 31) - 1


def compiled() -> bool:
    """True where the C extension of the executor is built (``pip install`` builds it)."""
    return ex.is_compiled()


@functools.cache
def pure_engine() -> ModuleType:
    """The executor's source run as plain Python, even where the extension is built (tests)."""
    if not ex.is_compiled():
        return ex
    spec = importlib.util.spec_from_file_location("msb.avro._columns_pure", Path(ex.__file__).with_name("_columns.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arrow_schema(projection: Projection) -> pa.Schema:
    fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in projection.columns]
    for lc in projection.lists:
        fields.append(pa.field(lc.name, pa.list_(pa.struct([(c.name, ARROW_TYPES[c.kind]) for c in lc.items]))))
    return pa.schema(fields)


# ----------------------------------------------------------------------------- the fallback's flat schema


@dataclass
class Flat:
    """A projection's own flat Avro schema, and its plan: how a fastavro-decoded record reaches the
    same buffers (projected in Python, written with this schema, read with this plan)."""

    schema: Any
    plan: Plan

    @classmethod
    def of(cls, projection: Projection) -> Flat:
        def fields(cols: Sequence[Column]) -> list[dict[str, Any]]:
            return [{"name": f"c{i}", "type": ["null", _AVRO_TYPES[c.kind]]} for i, c in enumerate(cols)]

        body = fields(projection.columns)
        for j, lc in enumerate(projection.lists):
            item = ["null", {"type": "record", "name": f"item{j}", "fields": fields(lc.items)}]
            body.append({"name": f"l{j}", "type": ["null", {"type": "array", "items": item}]})
        schema = fastavro.parse_schema({"type": "record", "name": "msb_projection", "fields": body})
        flat = Projection(
            tuple(Column(c.name, f"c{i}", c.kind) for i, c in enumerate(projection.columns)),
            tuple(ListColumn(lc.name, f"l{j}", tuple(Column(c.name, f"c{i}", c.kind) for i, c in enumerate(lc.items)))
                  for j, lc in enumerate(projection.lists)))
        return cls(schema, compile_plan(schema, flat))

    def encode(self, rec: dict[str, Any], projection: Projection) -> bytes:
        flat: dict[str, Any] = {f"c{i}": value_at(rec, c.path) for i, c in enumerate(projection.columns)}
        for j, lc in enumerate(projection.lists):
            items = value_at(rec, lc.path)
            flat[f"l{j}"] = None if items is None else [
                None if item is None else {f"c{i}": value_at(item, c.path) for i, c in enumerate(lc.items)}
                for item in items]
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.schema, flat)
        return buf.getvalue()


# ----------------------------------------------------------------------------- targets and results


@dataclass
class Target:
    """One output of the decoder: a projection, its layout and fallback schema, built once."""

    name: str
    projection: Projection
    levels: list[Any] = field(init=False)
    flat: Flat = field(init=False)
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        self.levels = layout(self.projection)
        self.flat = Flat.of(self.projection)
        self.schema = arrow_schema(self.projection)


@dataclass
class Decoded:
    """One batch: per target, the message indices of its rows and the columns; the errors."""

    batches: dict[str, tuple[np.ndarray, pa.RecordBatch]]
    errors: list[tuple[int, str]]
    fallbacks: list[int]  # messages read by fastavro (the plan could not apply)


@dataclass
class _Entry:
    """What a writer schema resolves to, once: its target and plan (None: fallback)."""

    ws: WriterSchema
    target: Target | None  # None: the schema is of no target (each packet an error)
    plan: Plan | None
    reason: str = ""


class ColumnarDecoder:
    """Decodes batches of messages into Arrow columns; ``target_of`` names each writer schema's target
    (raising AlertDecodeError for a schema no target takes)."""

    def __init__(self, targets: Sequence[Target], target_of: Callable[[WriterSchema], str],
                 schemas: SchemaStore | None = None, use_plans: bool | None = None,
                 engine: ModuleType = ex) -> None:
        self.targets = {t.name: t for t in targets}
        self.target_of = target_of
        self.schemas = schemas
        self.container = ContainerDecoder()
        self.engine = engine
        # Without the extension, fastavro (compiled) reads faster than the plans run as Python.
        self.use_plans = engine.is_compiled() if use_plans is None else use_plans
        self._headers: list[tuple[bytes, _Entry]] = []  # container headers seen, most recent first
        self._by_schema: dict[int, _Entry] = {}  # id(WriterSchema) -> entry (Confluent)
        self.fallbacks_total = 0

    # ------------------------------------------------------------------ schemas

    def _entry(self, ws: WriterSchema) -> _Entry:
        try:
            target = self.targets[self.target_of(ws)]
        except AlertDecodeError as exc:
            return _Entry(ws, None, None, str(exc))
        plan, reason = None, ""
        if self.use_plans:
            try:
                plan = compile_plan(ws.parsed, target.projection)
            except PlanUnsupported as exc:
                reason = str(exc)
        return _Entry(ws, target, plan, reason)

    def _container(self, msg: bytes) -> tuple[_Entry, int]:
        """The entry of a container message's schema and the offset after its header. Packets of one
        schema share their header up to the sync marker (random per file), so that prefix is compared
        byte for byte instead of parsing the schema's JSON again."""
        for i, (head, entry) in enumerate(self._headers):
            if msg.startswith(head):
                if i:
                    self._headers.insert(0, self._headers.pop(i))
                return entry, len(head) + 16
        ws, pos, _sync = self.container._header(msg)
        entry = next((e for _, e in self._headers if e.ws is ws), None) or self._entry(ws)
        self._headers.insert(0, (bytes(msg[: pos - 16]), entry))
        del self._headers[64:]
        return entry, pos

    def _confluent(self, msg: bytes) -> _Entry:
        if self.schemas is None:
            raise AlertDecodeError("Confluent wire-format message but no schema folder or registry given")
        sid, _ = split_confluent(msg)
        ws = self.schemas.get(sid)
        entry = self._by_schema.get(id(ws))
        if entry is None or entry.ws is not ws:
            entry = self._by_schema[id(ws)] = self._entry(ws)
        return entry

    def writer_schema_of(self, msg: bytes) -> WriterSchema:
        """The writer schema of one message (raises AlertDecodeError for an unreadable header)."""
        return self._frame(msg)[0].ws

    def datum(self, msg: bytes) -> tuple[WriterSchema, bytes | memoryview]:
        """The writer schema and the (first) datum of one message, framed as ``decode`` frames it (the
        header matched against those already seen, not parsed again)."""
        entry, data, start, end = self._frame(msg)
        if data is None:  # several records or another codec: the plain decoder finds the first datum
            return AlertDecoder(self.schemas).writer_schema(msg)
        return entry.ws, memoryview(data)[start:end]

    # ------------------------------------------------------------------ a batch

    def decode(self, values: Sequence[bytes | None]) -> Decoded:
        n = len(values)
        runs: dict[str, Any] = {}
        rows: dict[str, list[int]] = {}
        errors: list[tuple[int, str]] = []
        fallbacks: list[int] = []
        for i, msg in enumerate(values):
            try:
                if msg is None:
                    raise AlertDecodeError("empty message (null value)")
                entry, data, start, end = self._frame(msg)
                target = entry.target
                if target is None:
                    raise AlertDecodeError(entry.reason)
                run = runs.get(target.name)
                if run is None:
                    run = runs[target.name] = self.engine.Executor([lv.counts for lv in target.levels], n)
                    rows[target.name] = []
                if entry.plan is not None and data is not None:
                    run.record(entry.plan.program, data, start, end)
                else:
                    flat = target.flat.encode(self._fastavro(entry.ws, msg), target.projection)
                    run.record(target.flat.plan.program, flat, 0, len(flat))
                    fallbacks.append(i)
                rows[target.name].append(i)
            except self.engine.DatumError as exc:
                errors.append((i, f"corrupt Avro datum: {exc}"))
            except AlertDecodeError as exc:
                errors.append((i, str(exc)))
            except Exception as exc:  # noqa: BLE001 - whatever one bad packet raises, it is one error
                errors.append((i, f"{type(exc).__name__}: {exc}"))
        self.fallbacks_total += len(fallbacks)
        batches = {name: (np.asarray(rows[name], dtype=np.int64), assemble(self.targets[name], run, self.engine))
                   for name, run in runs.items()}
        return Decoded(batches, errors, fallbacks)

    def _frame(self, msg: bytes) -> tuple[_Entry, bytes | None, int, int]:
        """(entry, bytes holding the datum, its start and end); bytes None: only fastavro can read it."""
        if msg[:4] == MAGIC:
            entry, head = self._container(msg)
            ws = entry.ws
            count, pos = read_long(msg, head)
            size, pos = read_long(msg, pos)
            end = pos + size
            if count < 0 or size < 0 or end + 16 > len(msg):
                raise AlertDecodeError("truncated Avro data block")
            if msg[end : end + 16] != msg[head - 16 : head]:  # the header ends with the sync marker
                raise AlertDecodeError("Avro sync marker mismatch (corrupt block)")
            if count != 1 or end + 16 != len(msg) or ws.codec not in ("null", "deflate"):
                return entry, None, 0, 0  # several records or blocks, another codec: fastavro
            if ws.codec == "deflate":
                try:
                    data = zlib.decompress(msg[pos:end], -15)
                except zlib.error as exc:
                    raise AlertDecodeError(f"corrupt deflate block: {exc}") from exc
                return entry, data, 0, len(data)
            return entry, msg, pos, end
        if msg[:1] == b"\x00":
            return self._confluent(msg), msg, 5, len(msg)
        raise AlertDecodeError("neither an Avro container file nor Confluent wire format")

    def _fastavro(self, ws: WriterSchema, msg: bytes) -> dict[str, Any]:
        """The first record of a message, decoded by fastavro (the fallback path)."""
        try:
            if msg[:4] == MAGIC:
                for rec in fastavro.reader(io.BytesIO(msg)):
                    return rec
                raise AlertDecodeError("Avro container holds no record")
            return fastavro.schemaless_reader(io.BytesIO(memoryview(msg)[5:]), ws.parsed, None)
        except AlertDecodeError:
            raise
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types on corrupt data
            raise AlertDecodeError(f"corrupt Avro datum: {type(exc).__name__}: {exc}") from exc


def records_batch(target: Target, recs: Sequence[dict[str, Any]], engine: ModuleType = ex) -> pa.RecordBatch:
    """Records already decoded (dicts) as the target's columns, through the same buffers."""
    run = engine.Executor([lv.counts for lv in target.levels], len(recs))
    for rec in recs:
        flat = target.flat.encode(rec, target.projection)
        run.record(target.flat.plan.program, flat, 0, len(flat))
    return assemble(target, run, engine)


# ----------------------------------------------------------------------------- buffers -> Arrow


def assemble(target: Target, run: Any, engine: ModuleType = ex) -> pa.RecordBatch:
    """The executor's buffers as one RecordBatch (numeric buffers are handed to Arrow as they are)."""
    vdata = run.var_data()
    levels = target.levels
    top = run.table(0).export()
    n = run.table(0).rows()
    arrays = [_array(c, levels[0].slots[c.name], top, vdata, n, engine) for c in target.projection.columns]
    for j, lc in enumerate(target.projection.lists, start=1):
        _, index, valid = levels[0].slots[lc.name]
        present = top[5][valid]
        lengths = np.where(present != 0, top[3][index], 0).astype(np.int32)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        items = run.table(j).export()
        m = run.table(j).rows()
        children = [_array(c, levels[j].slots[c.name], items, vdata, m, engine) for c in lc.items]
        there = items[5][levels[j].slots[ITEM][2]]
        mask = None if there.all() else pa.array(there == 0)
        struct = pa.StructArray.from_arrays(children, fields=list(target.schema.field(lc.name).type.value_type),
                                            mask=mask)
        list_type = pa.list_(struct.type)
        arrays.append(pa.Array.from_buffers(list_type, n, [_bitmap(present), pa.py_buffer(offsets)],
                                            children=[struct]))
    return pa.RecordBatch.from_arrays(arrays, schema=target.schema)


def _bitmap(valid: np.ndarray) -> pa.Buffer | None:
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _array(col: Column, slot: tuple[int, int, int], arrays: list[np.ndarray], vdata: np.ndarray,
           n: int, engine: ModuleType) -> pa.Array:
    storage, index, valid = slot
    mask = arrays[5][valid]
    if col.kind in ("string", "binary"):
        offsets, data = engine.gather(vdata, np.ascontiguousarray(arrays[6][index]),
                                      np.ascontiguousarray(arrays[7][index]))
        if n and offsets[-1] > _INT32_MAX:
            raise AlertDecodeError(f"column {col.name}: more than 2 GiB in one batch; use smaller batches")
        return pa.Array.from_buffers(ARROW_TYPES[col.kind], n, [_bitmap(mask), pa.py_buffer(offsets.astype(np.int32)),
                                                                pa.py_buffer(data)])
    values = arrays[_STORE[col.kind]][index]
    if col.kind == "bool":
        return pa.Array.from_buffers(pa.bool_(), n, [_bitmap(mask), pa.py_buffer(np.packbits(values != 0,
                                                                                              bitorder="little"))])
    return pa.Array.from_buffers(ARROW_TYPES[col.kind], n, [_bitmap(mask), pa.py_buffer(np.ascontiguousarray(values))])


# ----------------------------------------------------------------------------- Arrow -> Avro


_ENCODE = {"double": (K.E_DOUBLE, pa.float64(), 0), "float": (K.E_FLOAT, pa.float32(), 1),
           "long": (K.E_LONG, pa.int64(), 2), "int": (K.E_LONG, pa.int64(), 2),
           "boolean": (K.E_BOOL, pa.bool_(), 3), "string": (K.E_VAR, pa.string(), 4),
           "bytes": (K.E_VAR, pa.binary(), 4)}


class RecordEncoder:
    """Rows of an Arrow table as Avro messages of a flat record schema: fields of a primitive type,
    a [null, primitive] union or an array of strings. With ``sync`` (16 bytes) each message is a
    one-record container file (header built once); otherwise ``prefix`` + the bare datum (the
    Confluent framing, or nothing). No Python object per field: the columns are encoded in C."""

    def __init__(self, schema: dict[str, Any], sync: bytes | None = None, prefix: bytes = b"") -> None:
        self.schema = schema
        self.fields: list[tuple[str, int, pa.DataType, int, int]] = []  # name, kind, type, buffer, null branch
        for f in schema["fields"]:
            t, null = f["type"], -1
            if isinstance(t, list):
                if len(t) != 2 or "null" not in t:
                    raise ValueError(f"field {f['name']}: only [null, T] unions are encoded")
                null, t = t.index("null"), t[1 - t.index("null")]
            if isinstance(t, dict) and t.get("type") == "array" and t.get("items") == "string":
                self.fields.append((f["name"], K.E_RAW, pa.list_(pa.string()), 4, null))
            elif isinstance(t, str) and t in _ENCODE:
                kind, arrow, buffer = _ENCODE[t]
                self.fields.append((f["name"], kind, arrow, buffer, null))
            else:
                raise ValueError(f"field {f['name']}: type {t!r} is not encoded column-wise")
        self.head, self.sync = (prefix, b"") if sync is None else (container_header(schema, sync), sync)
        self._arrays: dict[tuple[str, ...], bytes] = {}

    def encode(self, table: pa.Table | pa.RecordBatch) -> list[bytes]:
        """One message per row; a column the table lacks is null (an error for a non-null field)."""
        n = table.num_rows
        if n == 0:
            return []
        cols: list[list[np.ndarray]] = [[], [], [], [], []]  # f64, f32, i64, b8, var (start, length)
        datas: list[np.ndarray] = []
        base = 0
        valid = np.zeros((len(self.fields), n), dtype=np.uint8)
        spec = np.zeros((len(self.fields), 4), dtype=np.int64)
        for j, (name, kind, arrow, buffer, null) in enumerate(self.fields):
            col = table.column(name) if name in table.schema.names else pa.nulls(n, arrow)
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            if kind == K.E_RAW:
                col = self._string_arrays(col)
            elif col.type != arrow:
                col = col.cast(arrow)
            valid[j] = col.is_valid().to_numpy(zero_copy_only=False)
            spec[j] = (kind, len(cols[buffer]), j, null)
            if buffer < 4:
                zero = False if kind == K.E_BOOL else 0
                cols[buffer].append(pc.fill_null(col, zero).to_numpy(zero_copy_only=False))
                continue
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset : col.offset + n + 1]
            data = col.buffers()[2]
            datas.append(np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8))
            cols[4].append(np.stack([offsets[:-1].astype(np.int64) + base, np.diff(offsets).astype(np.int64)]))
            base += len(datas[-1])
        stacks = [np.ascontiguousarray(np.stack(c)) if c else np.zeros((0, n), dtype)
                  for c, dtype in zip(cols[:4], (np.float64, np.float32, np.int64, np.uint8), strict=True)]
        var = np.stack(cols[4]) if cols[4] else np.zeros((0, 2, n), np.int64)
        vdata = np.concatenate(datas) if datas else np.zeros(0, np.uint8)
        out, offsets = ex.encode_rows(spec, stacks[0], stacks[1], stacks[2], stacks[3].astype(np.uint8), valid,
                                      np.ascontiguousarray(var[:, 0]), np.ascontiguousarray(var[:, 1]), vdata,
                                      np.arange(n, dtype=np.int64), self.head, self.sync)
        blob = out.tobytes()
        return [blob[offsets[i] : offsets[i + 1]] for i in range(n)]

    def _string_arrays(self, col: pa.Array) -> pa.Array:
        """Each row's array of strings, encoded (few distinct values: the filters an alert passed)."""
        out = []
        for items in col.to_pylist():
            key = tuple(items or ())
            enc = self._arrays.get(key)
            if enc is None:
                body = b"".join(write_long(len(v.encode())) + v.encode() for v in key)
                enc = self._arrays[key] = (write_long(len(key)) + body + b"\x00") if key else b"\x00"
            out.append(None if items is None else enc)
        return pa.array(out, pa.binary())

