"""Rubin (LSST): packets of schemas 10.x, 11.x (the SurveyAdapter contract, msb.surveys).

Its writer schemas are named ``lsst.vX_Y.alert``, registered by Rubin under id X*100+Y; the replay
reads the diaSource's ids, visit and midpointMjdTai. numpy and pyarrow are imported by the
functions that need them: the replay uses this module without them.

The diaSource fills ZTF's names where they mean the same thing (candid = diaSourceId, objectId =
diaObjectId, jd from midpointMjdTai, magpsf from psfFlux, fid from band, isdiffpos from isNegative)
and adds its own columns; ``prv`` holds the previous diaSources, derived the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from msb.avro.schema import AlertDecodeError
from msb.surveys.common import CUTOUT_COLUMNS, PRV_FIELDS, SUMMARY_FIELDS, Routing, constant, empty_lists_for_null

if TYPE_CHECKING:
    import pyarrow as pa

    from msb.avro.plan import Projection

NAME = "rubin"
MJD_TO_JD = 2400000.5  # JD = MJD + 2400000.5 (Rubin's times are MJDs)
PREFIX_FIELDS = frozenset({"diaSourceId", "diaSource.diaObjectId", "diaSource.visit", "diaSource.midpointMjdTai"})
ID_FIELDS = ("diaSourceId", "diaSource.diaSourceId")  # the alert's id and its diaSource's: the same number
CUTOUTS = {c: c for c in CUTOUT_COLUMNS}  # plain bytes
# Rubin's schema names, and the names of the files its schema folders hold (lsst_alert_vX_Y_combined.avsc
# beside X.Y/lsst.vX_Y.alert.avsc): both give the registry id X*100+Y.
_SCHEMA_NAME = re.compile(r"^lsst\.v(\d+)_(\d+)\.alert$")
_COMBINED_FILE = re.compile(r"lsst_alert_v(\d+)_(\d+)_combined$")
RUBIN_BANDS = {"u": 0, "g": 1, "r": 2, "i": 3, "z": 4, "y": 5}
AB_ZEROPOINT_NJY = 31.4  # m = -2.5 log10(f / nJy) + 31.4
MAG_ERR = 1.0857362  # 2.5 / ln 10: d(mag) = 1.0857 d(flux) / flux

# Rubin diaSource fields kept as columns of their own (the shared ones are mapped above).
RUBIN_COLUMNS = (
    "diaObjectId:long ssObjectId:long visit:long detector:int midpointMjdTai:double band:string "
    "psfFlux:float psfFluxErr:float reliability:float snr:float extendedness:float isDipole:bool"
)
COLUMNS = [tuple(item.split(":")) for item in RUBIN_COLUMNS.split()]
# What the shared columns are derived from: the diaSource's own fields (in prvDiaSources too).
_SOURCE = [("diaSourceId", "long"), ("ra", "double"), ("dec", "double"), ("isNegative", "bool"),
           ("midpointMjdTai", "double"), ("band", "string"), ("psfFlux", "float"), ("psfFluxErr", "float"),
           ("reliability", "float")]


def writes(schema_name: str) -> bool:
    return schema_name.startswith("lsst.") and schema_name.endswith(".alert")


def registry_id(major: int, minor: int) -> int:
    """Rubin's registry id for alert schema vMAJOR.MINOR (e.g. 11.1 -> 1101)."""
    return major * 100 + minor


def schema_id(name: str) -> int | None:
    """The registry id of a schema named ``lsst.vX_Y.alert`` (or a file ``lsst_alert_vX_Y_combined``)."""
    m = _SCHEMA_NAME.match(name) or _COMBINED_FILE.search(name)
    return registry_id(int(m[1]), int(m[2])) if m else None


def routing(prefix: Mapping[str, Any]) -> Routing:
    """The replay's facts from PREFIX_FIELDS: key the diaObject (the diaSource for solar-system
    sources, which have none), visit the visit id, time the midpoint as a JD."""
    mjd, sid = prefix.get("diaSource.midpointMjdTai"), prefix.get("diaSourceId")
    if mjd is None or sid is None:
        raise AlertDecodeError("Rubin alert lacks diaSourceId or diaSource.midpointMjdTai")
    visit, dia_object = prefix.get("diaSource.visit"), prefix.get("diaSource.diaObjectId")
    key = str(dia_object if dia_object else sid).encode()
    return Routing(int(sid), key, str(visit if visit is not None else mjd), mjd + MJD_TO_JD)


def projection(cutouts: bool = False) -> Projection:
    from msb.avro.plan import Column, ListColumn, Projection

    own = {n for n, _ in COLUMNS}
    cols = [Column("diaSourceId", "diaSourceId", "long")]
    cols += [Column(n, f"diaSource.{n}", k) for n, k in COLUMNS]
    cols += [Column(n, f"diaSource.{n}", k) for n, k in _SOURCE if n not in own and n != "diaSourceId"]
    if cutouts:
        cols += [Column(c, path, "binary") for c, path in CUTOUTS.items()]
    prv = ListColumn("prv", "prvDiaSources", tuple(Column(n, n, k) for n, k in _SOURCE))
    return Projection(tuple(cols), (prv,))


def flux_to_mag(flux: Any) -> Any:
    """AB magnitude of fluxes in nJy (Rubin reports fluxes, ZTF magnitudes); null where flux <= 0.
    Takes an Arrow array, or one number (then returns a float or None)."""
    if flux is None or isinstance(flux, int | float):
        return None if flux is None or not flux > 0 else -2.5 * math.log10(flux) + AB_ZEROPOINT_NJY
    import pyarrow as pa
    import pyarrow.compute as pc

    f = pc.cast(flux, pa.float64())
    positive = pc.if_else(pc.greater(f, 0), f, None)
    return pc.add(pc.multiply(pc.log10(positive), -2.5), AB_ZEROPOINT_NJY)


def _mag_err(flux: Any, err: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    f = pc.cast(flux, pa.float64())
    positive = pc.if_else(pc.greater(f, 0), f, None)
    return pc.divide(pc.multiply(pc.cast(err, pa.float64()), MAG_ERR), positive)


def _band_ids(band: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pa.array(list(RUBIN_BANDS), pa.string())
    return pc.cast(pc.index_in(band, value_set=codes), pa.int32())


def _shared(t: pa.Table | pa.RecordBatch) -> dict[str, Any]:
    """ZTF's names for what a diaSource measures (the alert's own and each previous one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    negative = t.column("isNegative")
    return {
        "candid": t.column("diaSourceId"),
        "jd": pc.add(t.column("midpointMjdTai"), MJD_TO_JD),
        "fid": _band_ids(t.column("band")),
        "magpsf": pc.cast(flux_to_mag(t.column("psfFlux")), pa.float32()),
        "sigmapsf": pc.cast(_mag_err(t.column("psfFlux"), t.column("psfFluxErr")), pa.float32()),
        "diffmaglim": pa.nulls(t.num_rows, pa.float32()),
        "isdiffpos": pc.if_else(negative, "f", "t"),
        "rb": t.column("reliability"),
        "ra": t.column("ra"),
        "dec": t.column("dec"),
    }


def derive(raw: pa.RecordBatch) -> pa.Table:
    """The decoded batch as the stream's Rubin columns (its own, and ZTF's names where they mean the
    same); objectId is the diaObject's id, or the diaSource's for solar-system sources (no diaObject)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from msb.avro.columnar import ARROW_TYPES

    shared = {k: v for k, v in _shared(raw).items() if k not in ("diffmaglim", "rb")}  # ZTF-only columns
    obj = raw.column("diaObjectId")
    has_object = pc.fill_null(pc.not_equal(obj, 0), False)
    object_id = pc.cast(pc.if_else(has_object, obj, raw.column("diaSourceId")), pa.string())
    prv = raw.column("prv")
    items = pc.list_flatten(prv)
    prv_shared = _shared(pa.RecordBatch.from_arrays(items.flatten(), names=[f.name for f in items.type]))
    item_type = pa.struct([(n, ARROW_TYPES[k]) for n, k in PRV_FIELDS])
    prv_items = pa.StructArray.from_arrays([pc.cast(prv_shared[n], ARROW_TYPES[k]) for n, k in PRV_FIELDS],
                                           fields=list(item_type), mask=pc.invert(items.is_valid()))
    prv_new = pa.ListArray.from_arrays(prv.offsets, prv_items, mask=pc.invert(prv.is_valid()))
    columns = {n: raw.column(n) for n, _ in COLUMNS}
    columns.update(shared)
    columns.update(objectId=object_id, prv=empty_lists_for_null(pa.chunked_array([prv_new])),
                   survey=constant(NAME, raw.num_rows))
    for c in CUTOUT_COLUMNS:
        if c in raw.schema.names:
            columns[c] = raw.column(c)
    return pa.table(columns)


def summary(table: pa.Table) -> pa.Table:
    """The summary columns of derived rows (Rubin's band and reliability are columns of their own)."""
    return table.select(list(SUMMARY_FIELDS))
