"""ZTF: packets of schemas 1.8-4.x, and Fink's re-published ``topLevelRecord`` (the SurveyAdapter
contract, msb.surveys).

Its writer schemas are named ``ztf.alert`` (``topLevelRecord`` once Fink re-publishes them); the
replay reads ``objectId``, ``candid`` and ``candidate.jd``; ``projection`` says which fields the
columnar decoder reads (candidate fields keep their names; ``prv`` holds the previous detections);
``derive`` turns the decoded batch into the stream's columns. numpy and pyarrow are imported by the
functions that need them: the replay uses this module without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from msb.avro.schema import AlertDecodeError
from msb.surveys.common import CUTOUT_COLUMNS, PRV_FIELDS, SUMMARY_FIELDS, Routing, constant, empty_lists_for_null

if TYPE_CHECKING:
    import pyarrow as pa

    from msb.avro.plan import Projection

NAME = "ztf"
SCHEMA_NAMES = ("ztf.alert", "topLevelRecord")  # ZTF 1.8-4.x, and Fink's re-published ZTF
PREFIX_FIELDS = frozenset({"objectId", "candid", "candidate.jd"})
ID_FIELDS = ("candid", "candidate.candid")  # the alert's id and its candidate's: the same number
CUTOUTS = {c: f"{c}.stampData" for c in CUTOUT_COLUMNS}  # {fileName, stampData} records
# ZTF candidate fields (schemas 3.x and 4.x share these 103), in schema order.
ZTF_CANDIDATE = (
    "jd:double fid:int pid:long diffmaglim:float pdiffimfilename:string programpi:string programid:int "
    "candid:long isdiffpos:string tblid:long nid:int rcid:int field:int xpos:float ypos:float ra:double "
    "dec:double magpsf:float sigmapsf:float chipsf:float magap:float sigmagap:float distnr:float magnr:float "
    "sigmagnr:float chinr:float sharpnr:float sky:float magdiff:float fwhm:float classtar:float "
    "mindtoedge:float magfromlim:float seeratio:float aimage:float bimage:float aimagerat:float "
    "bimagerat:float elong:float nneg:int nbad:int rb:float ssdistnr:float ssmagnr:float ssnamenr:string "
    "sumrat:float magapbig:float sigmagapbig:float ranr:double decnr:double sgmag1:float srmag1:float "
    "simag1:float szmag1:float sgscore1:float distpsnr1:float ndethist:int ncovhist:int jdstarthist:double "
    "jdendhist:double scorr:double tooflag:int objectidps1:long objectidps2:long sgmag2:float srmag2:float "
    "simag2:float szmag2:float sgscore2:float distpsnr2:float objectidps3:long sgmag3:float srmag3:float "
    "simag3:float szmag3:float sgscore3:float distpsnr3:float nmtchps:int rfid:long jdstartref:double "
    "jdendref:double nframesref:int rbversion:string dsnrms:float ssnrms:float dsdiff:float magzpsci:float "
    "magzpsciunc:float magzpscirms:float nmatches:int clrcoeff:float clrcounc:float zpclrcov:float "
    "zpmed:float clrmed:float clrrms:float neargaia:float neargaiabright:float maggaia:float "
    "maggaiabright:float exptime:float drb:float drbversion:string"
)
COLUMNS = [tuple(item.split(":")) for item in ZTF_CANDIDATE.split()]
FID_BANDS = {1: "g", 2: "r", 3: "i"}
_CANDIDATE_CANDID = "candidate_candid"  # the candidate's own candid, used where the alert's is null


def writes(schema_name: str) -> bool:
    return schema_name in SCHEMA_NAMES


def schema_id(name: str) -> int | None:
    """ZTF numbers no schemas in a registry: a Confluent replay of ZTF packets is given --schema-id."""
    return None


def routing(prefix: Mapping[str, Any]) -> Routing:
    """The replay's facts from PREFIX_FIELDS: key objectId, visit and time the exposure's jd."""
    jd, oid, candid = prefix.get("candidate.jd"), prefix.get("objectId"), prefix.get("candid")
    if jd is None or oid is None or candid is None:
        raise AlertDecodeError("ZTF alert lacks objectId, candid or candidate.jd")
    return Routing(int(candid), oid.encode(), repr(jd), jd)


def projection(cutouts: bool = False) -> Projection:
    from msb.avro.plan import Column, ListColumn, Projection

    cols = [Column("objectId", "objectId", "string"), Column("candid", "candid", "long"),
            Column("schemavsn", "schemavsn", "string")]
    cols += [Column(_CANDIDATE_CANDID if n == "candid" else n, f"candidate.{n}", k) for n, k in COLUMNS]
    if cutouts:
        cols += [Column(c, path, "binary") for c, path in CUTOUTS.items()]
    prv = ListColumn("prv", "prv_candidates", tuple(Column(n, n, k) for n, k in PRV_FIELDS))
    return Projection(tuple(cols), (prv,))


def derive(raw: pa.RecordBatch) -> pa.Table:
    """The decoded batch as the stream's ZTF columns: candidate fields by name, the alert's candid
    (the candidate's where the alert has none), ``prv`` (empty where the packet has no history)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([raw])
    candid = pc.coalesce(table.column("candid"), table.column(_CANDIDATE_CANDID))
    table = table.set_column(table.schema.get_field_index("candid"), "candid", candid)
    table = table.drop_columns([_CANDIDATE_CANDID])
    table = table.set_column(table.schema.get_field_index("prv"), "prv", empty_lists_for_null(table.column("prv")))
    return table.append_column("survey", constant(NAME, table.num_rows))


def summary(table: pa.Table) -> pa.Table:
    """The summary columns of derived rows: ZTF's band is its filter id's letter, its reliability the
    deep real/bogus score where there is one, else rb (the rows keep all three as they are)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fid = table.column("fid")
    letters = pa.array([FID_BANDS.get(i) for i in range(max(FID_BANDS) + 1)], pa.string())
    known = pc.fill_null(pc.is_in(fid, value_set=pa.array(list(FID_BANDS), pa.int32())), False)
    band = pc.if_else(known, pc.take(letters, pc.if_else(known, fid, 0)), pc.cast(fid, pa.string()))
    cols = {k: table.column(k) for k in SUMMARY_FIELDS if k in table.column_names}
    cols.update(band=band, reliability=pc.coalesce(table.column("drb"), table.column("rb")))
    return pa.table({k: cols[k] for k in SUMMARY_FIELDS})
