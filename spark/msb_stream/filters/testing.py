"""Helpers for the filters' own tests: real alerts as the frames filters receive in the stream."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
import pyarrow as pa

from msb import paths
from msb.sources import Packet, iter_packets
from msb_stream.decode import BatchDecoder, DecodeSettings, arrow_schema, filter_frame


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A filter's input: every flat column present (missing values null), typed as in the stream."""
    return filter_frame(pa.Table.from_pylist(rows, schema=arrow_schema()))


@lru_cache(maxsize=4)
def real_frame(which: str = "ztf") -> pd.DataFrame:
    """The 2018-11-29 ZTF night (498 alerts) or the 47 Rubin alerts, decoded as the stream decodes them."""
    folder = paths.ztf_night() if which == "ztf" else paths.rubin_alerts()
    values = []
    for p in iter_packets([folder]):
        assert isinstance(p, Packet), p
        values.append(p.data)
    table = BatchDecoder(DecodeSettings(schema_dir=str(paths.rubin_schemas()))).decode(values, {})
    assert table.column("error").null_count == len(values)
    return filter_frame(table)
