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

import pandas as pd

Condition = tuple[str, str, float]

PRESETS: dict[str, list[Condition]] = {
    "fink": [("nbad", "==", 0), ("rb", ">=", 0.55), ("fid", "!=", 3)],
    "ztf-pure": [("rb", ">=", 0.65), ("nbad", "==", 0), ("fwhm", "<=", 5), ("elong", "<=", 1.2),
                 ("magdiff", "abs<=", 0.1)],
    "rubin": [("reliability", ">=", 0.6)],
    "none": [],
}

_OPS = ("abs<=", ">=", "<=", "==", "!=", ">", "<")
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


def passes(frame: pd.DataFrame, conds: list[Condition]) -> pd.Series:
    """Boolean mask of the rows of ``frame`` that meet every condition (nulls fail)."""
    mask = pd.Series(True, index=frame.index)
    for col, op, value in conds:
        if col not in frame:
            return pd.Series(False, index=frame.index)
        x = pd.to_numeric(frame[col], errors="coerce")
        if op == "abs<=":
            ok = x.abs() <= value
        else:
            ok = {">=": x >= value, "<=": x <= value, ">": x > value, "<": x < value,
                  "==": x == value, "!=": x != value}[op]
        mask &= ok & x.notna()
    return mask


def describe(conds: list[Condition]) -> str:
    return " and ".join(f"|{c}| <= {v:g}" if op == "abs<=" else f"{c} {op} {v:g}" for c, op, v in conds) or "none"
