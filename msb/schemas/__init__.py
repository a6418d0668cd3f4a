"""The Avro contracts between components, one file per topic, loaded by the side that writes it
and the side that reads it: ``processed.avsc`` (the stream writes it, the crossmatch reads it) and
``classified.avsc`` (the crossmatch writes it; ``msb run``'s summary and users read it); and
``livestream.avsc``, the fields msb appends to an alert on a Livestream (Fink-style) topic, which
the stream writes and Fink's clients read (msb/livestream.py)."""

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
