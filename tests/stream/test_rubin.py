"""Rubin alerts through the same job: Avro container and Confluent wire format in one topic."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from msb import paths
from msb.avro import AlertDecoder, SchemaStore, encode_confluent
from msb_stream.job import StreamConfig, run_stream
from tests.stream.helpers import candids, filter_candids, packets, produce


def test_rubin_container_and_confluent(broker: Any, rubin_run: dict[str, Any], tmp_path: Path) -> None:
    records, values, confluent = rubin_run["records"], rubin_run["values"], rubin_run["confluent"]
    assert len(values) == 47 and all(c[:1] == b"\x00" for c in confluent)
    reliable = {r["diaSourceId"] for r in records if r["diaSource"]["reliability"] >= 0.6}
    very = {r["diaSourceId"] for r in records if r["diaSource"]["reliability"] >= 0.9}
    sso = {r["diaSourceId"] for r in records if r["diaSource"].get("ssObjectId")}
    s = rubin_run["summary"]
    assert s.input == 94 and s.dead_letters == 0 and s.quality_passed == 2 * len(reliable)
    archive = pq.read_table(rubin_run["tmp"] / "archive").to_pandas()
    assert sorted(archive["candid"]) == sorted(list(reliable) * 2)
    assert set(archive["survey"]) == {"rubin"} and archive["magpsf"].notna().all()
    # Rubin's alerts go to the filters' _lsst topics (Fink's name for Rubin), none to _ztf.
    reliability_topics = s.topics.filters["rubin_high_reliability"]
    assert [t.rsplit("_", 1)[1] for t in reliability_topics] == ["ztf", "lsst"]
    assert candids(broker.bootstrap, reliability_topics[0]) == []
    assert sorted(candids(broker.bootstrap, reliability_topics[1])) == sorted(list(very) * 2)
    assert set(filter_candids(broker.bootstrap, s.topics.filters["known_sso"])) == sso & reliable
    assert len(very) == 12 and sso


def test_confluent_without_schemas_is_a_dead_letter(spark: Any, broker: Any, rubin_dir: Path,
                                                   tmp_path: Path) -> None:
    store = SchemaStore(paths.rubin_schemas())
    rec = AlertDecoder().decode(packets(rubin_dir)[0])
    msg = encode_confluent(rec, 1000, store.get(1000))
    topic = f"rubin-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [(b"k", msg)], partitions=1)
    s = run_stream(StreamConfig(bootstrap=broker.bootstrap, topic=topic, archive=str(tmp_path / "a"),
                                checkpoint=str(tmp_path / "c"), quality="none", available_now=True,
                                topic_prefix=f"{topic}-", metrics_port=None))
    assert s.dead_letters == 1 and s.decoded == 0
