"""One adapter per survey: every fact about a survey's packets lives in its module here, and nothing
else in msb knows them; msb.alert, the replay, the stream and the crossmatch ask these functions.

An adapter is a module satisfying :class:`SurveyAdapter` (``ztf``, ``rubin``). It owns:

- recognising its packets: ``writes(schema_name)`` for an Avro packet's writer schema
  (:func:`adapter_of`); a packet already decoded to a dict is recognised by its ``ID_FIELDS``
  (:func:`adapter_for`). Nothing else tells surveys apart;
- what the replay reads without a full decode: ``PREFIX_FIELDS``, and ``routing`` (key, visit, time,
  id) from them; ``ID_FIELDS``, the fields ``--fresh-ids`` renews; ``schema_id``, its own
  registry numbering (Rubin's X*100+Y; msb.avro.registry's folders and the replay's Confluent ids);
- ``CUTOUTS``, the stamps' fields (:func:`cutouts`);
- the flat columns: ``COLUMNS`` (its own), ``projection`` (the fields the columnar decoder reads),
  ``derive`` (the decoded batch as the stream's columns) and ``summary`` (the columns ``summary``
  shows). The stream's rows, the crossmatch's view of a raw alert and :func:`row` (one decoded dict,
  for notebooks and ``msb consume``) all go through them.

The replay's image has no numpy or pyarrow: this package and the adapters' facts import neither;
the adapters' Arrow functions import them when called.

Adding a survey:

1. one module ``msb/surveys/<name>.py`` defining every member of :class:`SurveyAdapter`;
2. its registration: the module in ``ADAPTERS`` below (``Survey`` then has a member for it);
3. its tests: real packets of it in ``tests/core/test_surveys.py``'s ``SAMPLES`` (the contract test,
   routing, cutouts and the one-row test then run on it), plus tests of what it derives.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from msb.avro.schema import AlertDecodeError, WriterSchema, value_at
from msb.surveys import rubin, ztf
from msb.surveys.common import CUTOUT_COLUMNS, SUMMARY_FIELDS, Routing

if TYPE_CHECKING:
    import pyarrow as pa

    from msb.avro.columnar import Target
    from msb.avro.plan import Projection


@runtime_checkable
class SurveyAdapter(Protocol):
    """The contract every survey module satisfies (checked on ``ADAPTERS`` by tests/core/test_surveys.py)."""

    NAME: str  # the survey's name: Survey's value, the rows' ``survey``, the Livestream topics' suffix
    PREFIX_FIELDS: frozenset[str]  # dotted paths of the leading fields ``routing`` takes
    ID_FIELDS: tuple[str, ...]  # dotted paths holding the alert's id (all of them: renewed together)
    CUTOUTS: Mapping[str, str]  # cutout column (common.CUTOUT_COLUMNS) -> dotted path of its bytes
    COLUMNS: Sequence[tuple[str, str]]  # the survey's own columns: (name, kind)

    def writes(self, schema_name: str) -> bool:
        """Whether packets of the writer schema named ``schema_name`` are this survey's."""
        ...

    def schema_id(self, name: str) -> int | None:
        """The survey's registry id of a writer schema (or schema file) name; None where it has none."""
        ...

    def routing(self, prefix: Mapping[str, Any]) -> Routing:
        """Id, key, visit and time from the PREFIX_FIELDS values; AlertDecodeError where they lack."""
        ...

    def projection(self, cutouts: bool = False) -> Projection: ...

    def derive(self, raw: pa.RecordBatch) -> pa.Table: ...

    def summary(self, table: pa.Table) -> pa.Table: ...


ADAPTERS: dict[str, SurveyAdapter] = {adapter.NAME: adapter for adapter in (ztf, rubin)}
Survey = StrEnum("Survey", {name.upper(): name for name in ADAPTERS}, module=__name__)  # type: ignore[misc]


def adapter_of(schema_name: str) -> SurveyAdapter:
    """The adapter of an Avro packet, by its writer schema's name."""
    for adapter in ADAPTERS.values():
        if adapter.writes(schema_name):
            return adapter
    raise AlertDecodeError(f"unknown alert schema {schema_name!r} (written by none of the surveys: "
                           f"{', '.join(ADAPTERS)})")


def route(ws: WriterSchema) -> str:
    """The columnar decoder's target of a packet (its ``target_of``): its survey's name."""
    return adapter_of(ws.name).NAME


def _holds(rec: Mapping[str, Any], path: str) -> bool:
    parent, _, last = path.rpartition(".")
    node = value_at(rec, parent) if parent else rec
    return isinstance(node, Mapping) and last in node


def adapter_for(rec: Mapping[str, Any]) -> SurveyAdapter:
    """The adapter of a decoded packet (no writer schema at hand): the one whose ID_FIELDS it holds."""
    for adapter in ADAPTERS.values():
        if all(_holds(rec, path) for path in adapter.ID_FIELDS):
            return adapter
    raise AlertDecodeError(f"not an alert of any known survey ({', '.join(ADAPTERS)}): it lacks each one's "
                           f"id fields ({'; '.join(', '.join(a.ID_FIELDS) for a in ADAPTERS.values())})")


def prefix_of(rec: Mapping[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """The PREFIX_FIELDS values of a decoded packet (the replay's fallback for an unusual field order)."""
    return {path: value_at(rec, path) for path in paths}


def schema_id(name: str) -> int | None:
    """The registry id a survey numbers the writer schema (or schema file) ``name`` with, if any does."""
    for adapter in ADAPTERS.values():
        if (sid := adapter.schema_id(name)) is not None:
            return sid
    return None


def is_flat(rec: Mapping[str, Any]) -> bool:
    """Whether a decoded record is a flat row of msb's own (a processed or classified record, a stream
    row): its ``survey`` names a registered survey and its columns are that survey's already."""
    return rec.get("survey") in ADAPTERS and "candid" in rec


def cutouts(rec: Mapping[str, Any]) -> dict[str, bytes | None]:
    """The science, template and difference stamps of a decoded packet or flat row (gzipped or plain
    FITS bytes; None where it has none)."""
    if is_flat(rec):
        return {column.removeprefix("cutout").lower(): rec.get(column) for column in CUTOUT_COLUMNS}
    return {column.removeprefix("cutout").lower(): value_at(rec, path)
            for column, path in adapter_for(rec).CUTOUTS.items()}


# ----------------------------------------------------------------------------- Arrow (numpy, pyarrow)


@functools.cache
def target(name: str, cutouts: bool = False) -> Target:
    """The columnar decoder's target for one survey's packets (built once per process)."""
    from msb.avro.columnar import Target

    return Target(name, ADAPTERS[name].projection(cutouts))


def table(recs: list[dict[str, Any]], keep_cutouts: bool = False) -> pa.Table:
    """Decoded packets of one survey (dicts, as fastavro gives them) as that survey's derived columns."""
    from msb.avro.columnar import records_batch

    adapter = adapter_for(recs[0])
    return adapter.derive(records_batch(target(adapter.NAME, keep_cutouts), recs))


def row(rec: dict[str, Any], keep_cutouts: bool = False) -> dict[str, Any]:
    """One decoded packet as its survey's flat row."""
    return table([rec], keep_cutouts).to_pylist()[0]


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The columns an astronomer looks at first, the same for every survey (SUMMARY_FIELDS), of a decoded
    packet, or of a flat row (``msb consume`` on ``processed`` or ``classified``: those it carries)."""
    if is_flat(rec):
        return {k: rec.get(k) for k in SUMMARY_FIELDS}
    return adapter_for(rec).summary(table([rec])).to_pylist()[0]
