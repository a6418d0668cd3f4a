"""Helpers for the filters' own tests: real alerts as the flat frames filters receive."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from msb import paths
from msb.alert import survey_of
from msb.avro import AlertDecoder, SchemaStore
from msb.sources import Packet, iter_packets
from msb.stream.decode import flat_columns, stream_row


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A filter's input: every flat column present, missing values null."""
    return pd.DataFrame.from_records(rows, columns=flat_columns())


@lru_cache(maxsize=4)
def real_frame(which: str = "ztf") -> pd.DataFrame:
    """The 2018-11-29 ZTF night (498 alerts) or the 47 Rubin alerts, flattened."""
    folder = paths.ztf_night() if which == "ztf" else paths.rubin_alerts()
    decoder = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    rows = []
    for p in iter_packets([folder]):
        assert isinstance(p, Packet), p
        rows.append(stream_row(decoder.decode(p.data), survey_of(decoder.writer_schema(p.data)[0])))
    return frame(rows)
