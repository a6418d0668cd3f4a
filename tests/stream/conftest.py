"""Stream runs that several test modules read: the ZTF night and the Rubin alerts, each once per session
(a Spark run costs tens of seconds; the Fink client tests read the same outputs as the night's tests)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest

from msb import paths
from msb.avro import AlertDecoder, SchemaStore, encode_confluent
from msb.surveys.rubin import registry_id
from msb_stream.job import StreamConfig, run_stream
from tests.stream.helpers import fink, packets, produce, run, ztf_key, ztf_pure

CORRUPT = [b"not an alert at all", None]  # plus a truncated real packet, added below


@pytest.fixture(scope="session")
def night(ztf_night: Path) -> dict[str, Any]:
    """The night's packets and, computed straight from them with fastavro, what each cut keeps."""
    values = packets(ztf_night)
    recs = [next(iter(fastavro.reader(io.BytesIO(v)))) for v in values]
    return {
        "values": values,
        "fink": {r["candid"] for r in recs if fink(r["candidate"])},
        "ztf-pure": {r["candid"] for r in recs if ztf_pure(r["candidate"])},
        "sso": {r["candid"] for r in recs if r["candidate"]["ssdistnr"] is not None
                and 0 <= r["candidate"]["ssdistnr"] < 5},
    }


@pytest.fixture(scope="session")
def ztf_topic(broker: Any, night: dict[str, Any]) -> str:
    topic = f"ztf-{uuid.uuid4().hex[:8]}"
    good = [(ztf_key(v), v) for v in night["values"]]
    bad = [(b"bad", c) for c in CORRUPT] + [(b"bad", night["values"][0][:3000])]
    # The corrupt messages sit among the good ones: the batch they are in must still go through.
    produce(broker.bootstrap, topic, good[:200] + bad + good[200:], partitions=2)
    return topic


@pytest.fixture(scope="session")
def fink_run(spark: Any, broker: Any, ztf_topic: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The night through the stream (fink cut, the ZTF filters, default outputs: Livestream filter topics)."""
    tmp = tmp_path_factory.mktemp("fink")
    summary = run(broker, ztf_topic, tmp, "fink", max_offsets_per_trigger=200)
    return {"summary": summary, "tmp": tmp}


@pytest.fixture(scope="session")
def rubin_run(spark: Any, broker: Any, rubin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 47 Rubin alerts twice in one topic, as Avro containers and in the Confluent wire format
    (Rubin's), through the stream with the rubin cut."""
    tmp = tmp_path_factory.mktemp("rubin")
    store = SchemaStore(paths.rubin_schemas())
    sid = registry_id(10, 0)
    values = packets(rubin_dir)
    records = [AlertDecoder(store).decode(v) for v in values]
    confluent = [encode_confluent(r, sid, store.get(sid)) for r in records]
    topic = f"rubin-{uuid.uuid4().hex[:8]}"
    keys = [str(r["diaSource"]["diaObjectId"]).encode() for r in records]
    produce(broker.bootstrap, topic, list(zip(keys, values, strict=True)) + list(zip(keys, confluent, strict=True)))
    summary = run_stream(StreamConfig(
        bootstrap=broker.bootstrap, topic=topic, archive=str(tmp / "archive"), checkpoint=str(tmp / "ckpt"),
        quality="rubin", available_now=True, schemas=str(paths.rubin_schemas()), topic_prefix=f"{topic}-",
        filters=["rubin_high_reliability", "known_sso"], metrics_port=None))
    return {"summary": summary, "tmp": tmp, "topic": topic, "values": values, "records": records,
            "confluent": confluent}
