"""A writer schema compiled into a read-or-skip program for the columnar decoder.

A :class:`Projection` names the columns a reader wants (``candidate.jd`` -> column ``jd``, the items
of ``prv_candidates`` -> a list column ``prv``); :func:`compile_plan` walks a writer schema once and
emits one instruction per value the datum holds: read it into a typed column buffer when projected,
skip it otherwise (bytes by their length, unions by branch index, arrays by their block counts). The
executor (:mod:`msb.avro._columns`) then runs that program over every datum of that schema without
looking at the schema again. Paths the writer schema lacks become null columns.

A schema the compiler cannot serve (a projected field of an incompatible type, an enum or a logical
type to project, a recursive type) raises :class:`PlanUnsupported`; its packets then go through
fastavro (the fallback path), so a new survey version never stops the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from msb.avro import _columns

# The executor's instruction codes (C constants when compiled, so read from its table).
K = SimpleNamespace(**_columns.CODES)

# Column kinds and the buffer each is stored in.
STORAGE = {"double": K.S_F64, "float": K.S_F32, "long": K.S_I64, "int": K.S_I32, "bool": K.S_B8,
           "string": K.S_VAR, "binary": K.S_VAR}
_READER = {"null": K.R_NULL, "boolean": K.R_BOOL, "int": K.R_INT, "long": K.R_LONG, "float": K.R_FLOAT,
           "double": K.R_DOUBLE, "string": K.R_STRING, "bytes": K.R_BYTES}
_SIZE = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8, "string": 1, "bytes": 1}
_NUMERIC = {"int", "long", "float", "double"}
_SPECIAL = {"record", "error", "enum", "fixed", "array", "map"}
# Which writer types may fill a column of each kind (Avro's promotions, plus narrowing to the
# column's type where fastavro's value would be cast the same way on its way into Arrow).
_FILLS = {
    "double": _NUMERIC, "float": _NUMERIC, "long": {"int", "long"}, "int": {"int", "long"},
    "bool": {"boolean"}, "string": {"string", "bytes"}, "binary": {"bytes", "string", "fixed"},
}


ITEM = "\0item"  # the slot of a list level that says an item is not null


class PlanUnsupported(ValueError):
    """The writer schema has something the plan compiler does not handle; the text says what."""


@dataclass(frozen=True)
class Column:
    """One output column: ``name``, filled from ``path`` (dotted, inside the record or list item)."""

    name: str
    path: str
    kind: str  # double | float | long | int | bool | string | binary

    def __post_init__(self) -> None:
        if self.kind not in STORAGE:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class ListColumn:
    """A list<struct> column from a top-level array of records (``prv_candidates`` -> ``prv``)."""

    name: str
    path: str
    items: tuple[Column, ...]


@dataclass(frozen=True)
class Projection:
    """What a reader wants from a record: scalar columns and list columns."""

    columns: tuple[Column, ...]
    lists: tuple[ListColumn, ...] = ()

    def names(self) -> list[str]:
        return [c.name for c in self.columns] + [lc.name for lc in self.lists]


@dataclass
class Level:
    """The column layout of one table: level 0 holds one row per record, level i one row per item of
    list i. ``slots[name] = (storage, index in that storage, validity index)``."""

    columns: tuple[Column, ...]
    slots: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    counts: list[int] = field(default_factory=lambda: [0] * K.N_STORAGE)

    def add(self, name: str, storage: int) -> tuple[int, int, int]:
        slot = (storage, self.counts[storage], len(self.slots))
        self.counts[storage] += 1
        self.slots[name] = slot
        return slot


def layout(projection: Projection) -> list[Level]:
    """Level 0 (scalar columns, then one length slot per list column), then one level per list."""
    top = Level(projection.columns)
    for c in projection.columns:
        top.add(c.name, STORAGE[c.kind])
    for lc in projection.lists:
        top.add(lc.name, K.S_I32)  # the item count of the list, null when the array is null
    levels = [top]
    for lc in projection.lists:
        lv = Level(lc.items)
        for c in lc.items:
            lv.add(c.name, STORAGE[c.kind])
        lv.add(ITEM, K.S_B8)  # whether the item itself is there (items may be a [null, record] union)
        levels.append(lv)
    return levels


@dataclass
class Plan:
    """A compiled program for one (writer schema, projection) pair."""

    program: np.ndarray  # int64 [instructions, K.WIDTH]
    levels: list[Level]
    projection: Projection
    absent: list[str]  # projected paths this writer schema lacks (always null)


_Program = list[list[int]]


class _Compiler:
    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self.levels = layout(projection)
        self.named: dict[str, Any] = {}
        self.stack: list[str] = []  # named records being compiled (recursion check)
        self.by_path: list[dict[str, Column]] = [{c.path: c for c in lv.columns} for lv in self.levels]
        self.lists = {lc.path: (i + 1, lc) for i, lc in enumerate(projection.lists)}
        self.found: set[tuple[int, str]] = set()

    # ------------------------------------------------------------------ types

    def resolve(self, t: Any) -> Any:
        """Named references replaced by their definitions, ``{"type": X}`` wrappers unwrapped (but
        not around a primitive with a logical type, which ``emit`` must see)."""
        while True:
            if isinstance(t, str):
                if t in _READER:
                    return t
                if t not in self.named:
                    raise PlanUnsupported(f"unknown named type {t!r}")
                t = self.named[t]
                continue
            if not isinstance(t, dict):
                return t  # a union
            kind = t.get("type")
            if kind in _SPECIAL:
                if "name" in t and kind != "array" and kind != "map":
                    self.named.setdefault(t["name"], t)
                    if t.get("namespace") and "." not in t["name"]:
                        self.named.setdefault(f"{t['namespace']}.{t['name']}", t)
                return t
            if isinstance(kind, str) and kind in _READER and t.get("logicalType") is not None:
                return t
            t = kind

    def min_size(self, t: Any, depth: int = 0) -> int:
        """The fewest bytes a value of this type takes (bounds array counts on corrupt input)."""
        t = self.resolve(t)
        if depth > 32:
            return 0
        if isinstance(t, str):
            return _SIZE[t]
        if isinstance(t, list):
            return 1
        kind = t["type"]
        if kind in ("record", "error"):
            return sum(self.min_size(f["type"], depth + 1) for f in t["fields"])
        if kind == "fixed":
            return int(t["size"])
        return 1  # enum, array, map: at least one varint

    # ------------------------------------------------------------------ emit

    def emit(self, t: Any, path: str, level: int, out: _Program) -> None:
        t = self.resolve(t)
        if isinstance(t, list):
            self.emit_union(t, path, level, out)
            return
        if isinstance(t, str):
            self.emit_primitive(t, path, level, out)
            return
        kind = t["type"]
        if t.get("logicalType") and self.wanted(path, level):
            raise PlanUnsupported(f"{path}: logical type {t['logicalType']!r} is not projected by the plan")
        if kind in ("record", "error"):
            name = t.get("name", "")
            if name in self.stack:
                raise PlanUnsupported(f"recursive type {name!r}")
            self.stack.append(name)
            for f in t["fields"]:
                self.emit(f["type"], f"{path}.{f['name']}" if path else f["name"], level, out)
            self.stack.pop()
        elif kind == "array":
            self.emit_array(t, path, level, out)
        elif kind == "map":
            head = [K.OP_MAP] + [0] * (K.WIDTH - 1)
            out.append(head)
            self.emit_skip(t["values"], out)
            head[K.A_END] = len(out)
            head[K.A_SIZE] = self.min_size(t["values"]) + 1  # key length varint + value
        elif kind == "enum":
            if self.wanted(path, level):
                raise PlanUnsupported(f"{path}: enums are not projected by the plan")
            out.append(self.ins(K.OP_SKIP, K.R_ENUM, size=len(t["symbols"])))
        elif kind == "fixed":
            col = self.wanted(path, level)
            if col is None:
                out.append(self.ins(K.OP_SKIP, K.R_FIXED, size=int(t["size"])))
            else:
                out.append(self.read(col, "fixed", level, path, size=int(t["size"])))
        elif kind in _READER:  # a primitive with a logical type, not projected (checked above)
            self.emit_primitive(kind, path, level, out)
        else:
            raise PlanUnsupported(f"{path}: unknown Avro type {kind!r}")

    def emit_skip(self, t: Any, out: _Program) -> None:
        """A value nothing is read from (inside maps and unprojected arrays)."""
        saved, self.by_path = self.by_path, [{} for _ in self.levels]
        saved_lists, self.lists = self.lists, {}
        try:
            self.emit(t, "", 0, out)
        finally:
            self.by_path, self.lists = saved, saved_lists

    def wanted(self, path: str, level: int) -> Column | None:
        col = self.by_path[level].get(path)
        if col is not None:
            self.found.add((level, path))
        return col

    def ins(self, op: int, reader: int, size: int = 0) -> list[int]:
        row = [0] * K.WIDTH
        row[K.A_OP], row[K.A_READER], row[K.A_SIZE] = op, reader, size
        return row

    def read(self, col: Column, writer_type: str, level: int, path: str, size: int = 0) -> list[int]:
        if writer_type not in _FILLS[col.kind]:
            raise PlanUnsupported(f"{path}: writer type {writer_type} cannot fill {col.kind} column {col.name}")
        reader = K.R_FIXED if writer_type == "fixed" else _READER[writer_type]
        if col.kind == "string" and writer_type != "string":
            reader = K.R_STRING  # bytes into a string column: validated as UTF-8 like a string
        row = self.ins(K.OP_READ, reader, size)
        storage, index, valid = self.levels[level].slots[col.name]
        row[K.A_STORAGE], row[K.A_INDEX], row[K.A_VALID] = storage, index, valid
        return row

    def emit_primitive(self, t: str, path: str, level: int, out: _Program) -> None:
        col = self.wanted(path, level)
        if t == "null":  # nothing to read; a projected column stays null
            return
        if col is None:
            out.append(self.ins(K.OP_SKIP, _READER[t], size=_SIZE[t] if t in ("float", "double") else 0))
        else:
            out.append(self.read(col, t, level, path))

    def emit_union(self, branches: list[Any], path: str, level: int, out: _Program) -> None:
        resolved = [self.resolve(b) for b in branches]
        nulls = [i for i, b in enumerate(resolved) if b == "null"]
        others = [i for i, b in enumerate(resolved) if b != "null"]
        # The common case, [null, primitive] in either order: one instruction.
        if len(branches) == 2 and len(nulls) == 1 and isinstance(resolved[others[0]], str):
            one: _Program = []
            self.emit_primitive(resolved[others[0]], path, level, one)
            if len(one) == 1 and one[0][K.A_OP] in (K.OP_SKIP, K.OP_READ):
                row = one[0]
                row[K.A_OP] = K.OP_OPT_SKIP if row[K.A_OP] == K.OP_SKIP else K.OP_OPT_READ
                row[K.A_NULL] = nulls[0]
                out.append(row)
                return
        head = [K.OP_UNION] + [0] * (K.WIDTH - 1)
        head[K.A_SIZE] = len(branches)
        out.append(head)
        table = []
        for _ in branches:
            entry = [K.OP_BRANCH] + [0] * (K.WIDTH - 1)
            out.append(entry)
            table.append(entry)
        for entry, b in zip(table, branches, strict=True):
            entry[K.A_INDEX] = len(out)  # body start
            self.emit(b, path, level, out)
            entry[K.A_END] = len(out)
        head[K.A_END] = len(out)

    def emit_array(self, t: dict[str, Any], path: str, level: int, out: _Program) -> None:
        head = [K.OP_ARRAY] + [0] * (K.WIDTH - 1)
        head[K.A_SIZE] = self.min_size(t["items"])
        head[K.A_INDEX] = -1
        out.append(head)
        listed = self.lists.get(path) if level == 0 else None
        if listed is not None:
            list_level, lc = listed
            self.found.add((0, "list:" + path))
            storage, index, valid = self.levels[0].slots[lc.name]
            head[K.A_INDEX], head[K.A_VALID], head[K.A_LEVEL] = index, valid, list_level
            saved = self.lists
            self.lists = {}
            try:
                self.emit_items(t["items"], path, lc, list_level, out)
            finally:
                self.lists = saved
        else:
            self.emit_skip(t["items"], out)
        head[K.A_END] = len(out)

    def emit_items(self, items: Any, path: str, lc: ListColumn, level: int, out: _Program) -> None:
        """The items of a list column: records, or [null, record] unions (Fink's re-published ZTF)."""
        mark = [K.OP_MARK] + [0] * (K.WIDTH - 1)
        mark[K.A_VALID] = self.levels[level].slots[ITEM][2]
        resolved = self.resolve(items)
        if isinstance(resolved, dict) and resolved.get("type") in ("record", "error"):
            out.append(mark)
            self.emit(resolved, "", level, out)
            return
        branches = [self.resolve(b) for b in resolved] if isinstance(resolved, list) else []
        records = [i for i, b in enumerate(branches) if isinstance(b, dict) and b.get("type") in ("record", "error")]
        if len(branches) != 2 or len(records) != 1 or "null" not in branches:
            raise PlanUnsupported(f"{path}: list column {lc.name} needs an array of records (or of [null, record])")
        head = [K.OP_UNION] + [0] * (K.WIDTH - 1)
        head[K.A_SIZE] = 2
        entries = [[K.OP_BRANCH] + [0] * (K.WIDTH - 1) for _ in branches]
        out += [head, *entries]
        for i, entry in enumerate(entries):
            entry[K.A_INDEX] = len(out)
            if i == records[0]:
                out.append(list(mark))
                self.emit(branches[i], "", level, out)
            entry[K.A_END] = len(out)
        head[K.A_END] = len(out)


def compile_plan(schema: Any, projection: Projection) -> Plan:
    """The program reading ``projection`` out of datums written with ``schema`` (parsed or JSON)."""
    comp = _Compiler(projection)
    out: _Program = []
    top = comp.resolve(schema)
    if not (isinstance(top, dict) and top.get("type") in ("record", "error")):
        raise PlanUnsupported("the writer schema is not a record")
    comp.emit(top, "", 0, out)
    absent = [c.path for c in projection.columns if (0, c.path) not in comp.found]
    absent += [lc.path for lc in projection.lists if (0, "list:" + lc.path) not in comp.found]
    program = np.array(out, dtype=np.int64).reshape(-1, K.WIDTH)
    return Plan(np.ascontiguousarray(program), comp.levels, projection, absent)
