"""Quality cuts: named presets of simple conditions, each threshold editable from the CLI.

A condition is ``(column, op, value)`` with op in ``>=, <=, >, <, ==, !=, abs<=``. A null value
fails the condition (an alert without an rb score is not a good ZTF alert). Presets:

* ``fink``: Fink's production cuts (nbad == 0, rb >= 0.55, fid != 3)
* ``ztf-pure``: ZTF's "pure" cuts (rb >= 0.65, nbad == 0, fwhm <= 5, elong <= 1.2, |magdiff| <= 0.1)
* ``rubin``: Rubin reliability >= 0.6
* ``none``: everything that decodes
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Condition = tuple[str, str, float]

PRESETS: dict[str, list[Condition]] = {
    "fink": [("nbad", "==", 0), ("rb", ">=", 0.55), ("fid", "!=", 3)],
    "ztf-pure": [("rb", ">=", 0.65), ("nbad", "==", 0), ("fwhm", "<=", 5), ("elong", "<=", 1.2),
                 ("magdiff", "abs<=", 0.1)],
    "rubin": [("reliability", ">=", 0.6)],
    "none": [],
}

_OPS = ("abs<=", ">=", "<=", "==", "!=", ">", "<")
_COMPARE = {">=": pc.greater_equal, "<=": pc.less_equal, ">": pc.greater, "<": pc.less, "==": pc.equal,
            "!=": pc.not_equal}
_CUT = re.compile(r"^\s*(\w+)\s*(abs<=|>=|<=|==|!=|>|<)\s*(-?[\d.eE+-]+)\s*$")


def parse_cut(text: str) -> Condition:
    """'rb>=0.7' -> ('rb', '>=', 0.7)."""
    m = _CUT.match(text)
    if not m:
        raise ValueError(f"cut {text!r} is not COLUMN OP NUMBER (OP one of {', '.join(_OPS)})")
    return m[1], m[2], float(m[3])


def conditions(preset: str, overrides: list[str] | None = None) -> list[Condition]:
    """A preset's conditions with overrides applied: same column and op replaces, else adds."""
    if preset not in PRESETS:
        raise ValueError(f"unknown quality preset {preset!r}; choose from {', '.join(PRESETS)}")
    conds = list(PRESETS[preset])
    for text in overrides or []:
        col, op, value = parse_cut(text)
        conds = [c for c in conds if (c[0], c[1]) != (col, op)] + [(col, op, value)]
    return conds


def mask(table: pa.Table | pa.RecordBatch, conds: list[Condition]) -> pa.ChunkedArray | pa.Array:
    """Boolean mask of the rows of an Arrow table that meet every condition (nulls and columns that
    are missing or not numeric fail): what the stream runs on each batch."""
    n = table.num_rows
    ok: Any = pa.repeat(pa.scalar(True), n)
    for col, op, value in conds:
        if col not in table.schema.names or not pa.types.is_integer(table.schema.field(col).type) and \
                not pa.types.is_floating(table.schema.field(col).type):
            return pa.repeat(pa.scalar(False), n)
        x = table.column(col)
        if op == "abs<=":
            x, op = pc.abs(x), "<="
        cond = _COMPARE[op](x, value)
        ok = pc.and_(ok, pc.fill_null(cond, False))
    return ok


def passes(frame: pd.DataFrame, conds: list[Condition]) -> pd.Series:
    """The same mask over a pandas frame (notebooks): numbers as text are read as numbers."""
    cols = {c: pd.to_numeric(frame[c], errors="coerce") for c, _, _ in conds if c in frame}
    table = pa.table({c: pa.array(v.astype("float64"), from_pandas=True) for c, v in cols.items()}
                     if cols else {"_": pa.nulls(len(frame))})
    return pd.Series(mask(table, conds).to_numpy(zero_copy_only=False), index=frame.index)


def describe(conds: list[Condition]) -> str:
    return " and ".join(f"|{c}| <= {v:g}" if op == "abs<=" else f"{c} {op} {v:g}" for c, op, v in conds) or "none"
