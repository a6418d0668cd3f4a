"""The Avro contracts between components, one file per topic, loaded by the side that writes it
and the side that reads it: ``processed.avsc`` (the stream writes it, the crossmatch reads it) and
``classified.avsc`` (the crossmatch writes it; ``msb run``'s summary and users read it); and
``livestream.avsc``, the fields msb appends to an alert on a Livestream (Fink-style) topic, which
the stream writes and Fink's clients read (msb/livestream.py).

Each contract has a module beside its ``.avsc`` (``processed.py``, ``classified.py``,
``livestream.py``) holding the parsed ``SCHEMA``, one ``VERSION`` (``msb.<contract>/<n>``) and its
encoder; a component imports the contract from there. A contract's container messages carry its
version as their Avro sync marker (:func:`sync_marker`); :func:`version_of` reads it back, and still
knows the markers written before the versions were unified (``LEGACY_MARKERS``). Readers decode
whatever the marker: Avro takes it from the message's own header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROCESSED = HERE / "processed.avsc"
CLASSIFIED = HERE / "classified.avsc"
LIVESTREAM = HERE / "livestream.avsc"


def load(path: Path) -> dict[str, Any]:
    """One contract as a parsed Avro schema (JSON)."""
    return json.loads(path.read_text())


def field_names(path: Path) -> list[str]:
    return [f["name"] for f in load(path)["fields"]]


SYNC_SIZE = 16  # an Avro container's sync marker
# Markers of messages written before the contracts' versions were unified -> the version they are.
LEGACY_MARKERS = {b"msb-processed-v1": "msb.processed/1", b"msb-classified-1": "msb.classified/1"}


def sync_marker(version: str) -> bytes:
    """A contract version as the 16-byte sync marker of its container messages (padded with spaces)."""
    raw = version.encode()
    if len(raw) > SYNC_SIZE:
        raise ValueError(f"contract version {version!r} is longer than an Avro sync marker ({SYNC_SIZE} bytes)")
    return raw.ljust(SYNC_SIZE, b" ")


def version_of(message: bytes) -> str | None:
    """The contract version of a one-record container message (it ends with its sync marker), from
    its marker: current or legacy; None for a marker no contract writes."""
    marker = bytes(message[-SYNC_SIZE:])
    if marker in LEGACY_MARKERS:
        return LEGACY_MARKERS[marker]
    version = marker.rstrip(b" ").decode("ascii", "replace")
    return version if version.startswith("msb.") and sync_marker(version) == marker else None
