"""One adapter per survey: what its packets hold and how they become the flat columns.

Each survey module (``ztf``, ``rubin``) knows its packet layout and nothing else does: ``projection``
names the fields the columnar decoder (msb.avro.columnar) reads, ``derive`` turns the decoded batch
into the stream's columns with pyarrow.compute, ``summary`` selects the columns ``summary`` shows.
The stream, the crossmatch's view of a raw alert and ``row`` (one decoded dict, for notebooks and
``msb consume``) all go through the same projection and derivation. Adding a survey is one module
here, registered in ``ADAPTERS``.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import pyarrow as pa

from msb.avro.columnar import Target, records_batch
from msb.surveys import rubin, ztf

ADAPTERS: dict[str, ModuleType] = {ztf.NAME: ztf, rubin.NAME: rubin}


def adapter_for(rec: dict[str, Any]) -> ModuleType:
    """The adapter of a decoded packet whose survey is not known: Rubin packets carry a diaSource."""
    return rubin if "diaSource" in rec else ztf


@functools.cache
def target(name: str, cutouts: bool = False) -> Target:
    """The columnar decoder's target for one survey's packets (built once per process)."""
    return Target(name, ADAPTERS[name].projection(cutouts))


def table(recs: list[dict[str, Any]], keep_cutouts: bool = False) -> pa.Table:
    """Decoded packets of one survey (dicts, as fastavro gives them) as that survey's derived columns."""
    adapter = adapter_for(recs[0])
    return adapter.derive(records_batch(target(adapter.NAME, keep_cutouts), recs))


def row(rec: dict[str, Any], keep_cutouts: bool = False) -> dict[str, Any]:
    """One decoded packet as its survey's flat row."""
    return table([rec], keep_cutouts).to_pylist()[0]


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The columns an astronomer looks at first, the same for every survey (SUMMARY_FIELDS)."""
    return adapter_for(rec).summary(table([rec])).to_pylist()[0]
