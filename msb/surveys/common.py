"""What every survey's flat columns share: the previous detections' fields, the cutout columns,
and small Arrow helpers the adapters' derivations use."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

PRV_FIELDS = [("candid", "long"), ("jd", "double"), ("fid", "int"), ("magpsf", "float"), ("sigmapsf", "float"),
              ("diffmaglim", "float"), ("isdiffpos", "string"), ("rb", "float"), ("ra", "double"), ("dec", "double")]
CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# The columns msb.alert.summary() shows first, the same for every survey.
SUMMARY_FIELDS = ("survey", "objectId", "candid", "jd", "ra", "dec", "magpsf", "band", "reliability")


def constant(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def empty_lists_for_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A packet without a history has an empty list of previous detections, not a null one."""
    return pc.fill_null(col, pa.scalar([], col.type))
