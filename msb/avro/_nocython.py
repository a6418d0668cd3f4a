"""The few names of Cython's pure-Python mode that msb.avro._columns uses, for running it uncompiled
where Cython itself is not installed (annotations are never evaluated: ``from __future__ import
annotations``)."""

from __future__ import annotations

from typing import Any

compiled = False
int = longlong = ulonglong = Py_ssize_t = uchar = double = float = bint = void = object  # noqa: A001


def declare(_type: Any, value: Any = None, **_kw: Any) -> Any:
    return value


def cast(_type: Any, value: Any) -> Any:
    return value


def _identity(fn: Any = None, *_a: Any, **_kw: Any) -> Any:
    return fn if callable(fn) else _identity


cclass = cfunc = ccall = inline = _identity

