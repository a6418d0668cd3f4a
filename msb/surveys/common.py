"""What every survey adapter shares: the routing facts it gives the replay, the previous detections'
fields, the cutout columns, and small Arrow helpers the adapters' derivations use.

Importable without numpy and pyarrow (the replay's image has neither): the Arrow helpers import
pyarrow when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

PRV_FIELDS = [("candid", "long"), ("jd", "double"), ("fid", "int"), ("magpsf", "float"), ("sigmapsf", "float"),
              ("diffmaglim", "float"), ("isdiffpos", "string"), ("rb", "float"), ("ra", "double"), ("dec", "double")]
CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# The columns msb.alert.summary() shows first, the same for every survey.
SUMMARY_FIELDS = ("survey", "objectId", "candid", "jd", "ra", "dec", "magpsf", "band", "reliability")


class Routing(NamedTuple):
    """What the replay needs of one packet, from its leading fields (an adapter's ``routing``)."""

    alert_id: int  # the alert's own id: what --fresh-ids renews
    key: bytes  # the object's id: one object's alerts stay in one partition
    visit: str  # the same exposure: the packets sent as one burst
    jd: float  # the exposure's time (JD), for --speed pacing


def constant(value: str, n: int) -> pa.Array:
    import pyarrow as pa

    return pa.repeat(pa.scalar(value, pa.string()), n)


def empty_lists_for_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A packet without a history has an empty list of previous detections, not a null one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.fill_null(col, pa.scalar([], col.type))
