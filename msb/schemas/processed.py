"""The processed contract (processed.avsc): what the stream writes for each alert that passes and the
crossmatch reads; one-record Avro container messages marked with VERSION."""

from __future__ import annotations

from msb.avro.columnar import RecordEncoder
from msb.schemas import PROCESSED, load, sync_marker

SCHEMA = load(PROCESSED)
VERSION = "msb.processed/1"


def encoder() -> RecordEncoder:
    """The processed topic's messages, encoded column-wise: one-record container files."""
    return RecordEncoder(SCHEMA, sync=sync_marker(VERSION))
