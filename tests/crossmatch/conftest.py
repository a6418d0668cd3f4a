"""Fixtures of the crossmatch tests: the default catalogs built once, real ZTF alerts as
`processed` records (the stream job's output contract, msb/schemas/processed.avsc)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from msb.avro import AlertDecoder
from msb.schemas import PROCESSED
from msb_crossmatch.defaults import build_default_catalogs
from msb_crossmatch.match import Crossmatcher


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    path = tmp_path_factory.mktemp("catalogs")
    build_default_catalogs(path, shared / "data" / "catalogs")
    return path


@pytest.fixture(scope="session")
def xm(store: Path) -> Crossmatcher:
    return Crossmatcher.open(store)


@pytest.fixture(scope="session")
def ztf_alerts(ztf_night: Path) -> list[dict[str, Any]]:
    """The 498 real alerts of 2018-11-29, decoded."""
    dec = AlertDecoder()
    files = sorted(ztf_night.glob("*.avro"))
    assert len(files) == 498
    return [dec.decode(f.read_bytes()) for f in files]


def processed_record(alert: dict[str, Any], schema: dict[str, Any], sent_ns: int | None = None) -> dict[str, Any]:
    """What the stream job publishes for one ZTF alert: candidate fields under the processed schema."""
    cand = alert["candidate"]
    top = {"survey": "ztf", "objectId": alert["objectId"], "candid": alert["candid"], "msb_sent_ns": sent_ns,
           "filters": []}
    out = {}
    for f in schema["fields"]:
        name = f["name"]
        out[name] = top[name] if name in top else cand.get(name)
    return out


@pytest.fixture(scope="session")
def processed_schema() -> dict[str, Any]:
    assert PROCESSED.is_file(), "the stream job's output schema is missing"
    return json.loads(PROCESSED.read_text())


@pytest.fixture(scope="session")
def processed_messages(ztf_alerts: list[dict[str, Any]], processed_schema: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """(key, value) of each alert as a one-record Avro container, like the `processed` topic."""
    parsed = fastavro.parse_schema(processed_schema)
    out = []
    for a in ztf_alerts:
        buf = io.BytesIO()
        fastavro.writer(buf, parsed, [processed_record(a, processed_schema)])
        out.append((a["objectId"].encode(), buf.getvalue()))
    return out
