"""The classified contract (classified.avsc): what the crossmatch writes for each alert, read by
``msb run``'s summary and by users; one-record Avro container messages marked with VERSION, or bare
datums in Fink's Livestream convention (msb/livestream.py)."""

from __future__ import annotations

import copy
from typing import Any

from msb.avro.columnar import RecordEncoder
from msb.schemas import CLASSIFIED, load, sync_marker

SCHEMA = load(CLASSIFIED)
VERSION = "msb.classified/1"


def with_catalogs(catalogs: list[str]) -> dict[str, Any]:
    """The contract plus ``xm_<name>`` and ``xm_<name>_sep`` fields for catalogs beyond the default set."""
    schema = copy.deepcopy(SCHEMA)
    have = {f["name"] for f in schema["fields"]}
    for name in catalogs:
        for field, ftype, doc in ((f"xm_{name}", "string", "label or id of the nearest match"),
                                  (f"xm_{name}_sep", "double", "its separation (arcsec)")):
            if field not in have:
                schema["fields"].append({"name": field, "type": ["null", ftype], "default": None, "doc": doc})
    return schema


def encoder(schema: dict[str, Any], distribution: str = "container") -> RecordEncoder:
    """The classified topic's messages: one record per Avro container file, or with the ``fink``
    distribution (Fink's Livestream convention) the bare datum, its schema being the message key."""
    return RecordEncoder(schema, sync=sync_marker(VERSION)) if distribution == "container" else RecordEncoder(schema)
