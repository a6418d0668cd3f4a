"""Rubin alerts through the same job: Avro container and Confluent wire format in one topic."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from msb import paths
from msb.avro import AlertDecoder, SchemaStore, encode_confluent, rubin_schema_id
from msb.stream.job import StreamConfig, run_stream
from tests.stream.helpers import candids, packets, produce


def test_rubin_container_and_confluent(spark: Any, broker: Any, rubin_dir: Path, tmp_path: Path) -> None:
    store = SchemaStore(paths.rubin_schemas())
    sid = rubin_schema_id(10, 0)
    dec = AlertDecoder(store)
    values = packets(rubin_dir)
    records = [dec.decode(v) for v in values]
    confluent = [encode_confluent(r, sid, store.get(sid)) for r in records]
    assert len(values) == 47 and all(c[:1] == b"\x00" for c in confluent)
    topic = f"rubin-{uuid.uuid4().hex[:8]}"
    keys = [str(r["diaSource"]["diaObjectId"]).encode() for r in records]
    produce(broker.bootstrap, topic, list(zip(keys, values, strict=True)) + list(zip(keys, confluent, strict=True)))

    reliable = {r["diaSourceId"] for r in records if r["diaSource"]["reliability"] >= 0.6}
    very = {r["diaSourceId"] for r in records if r["diaSource"]["reliability"] >= 0.9}
    sso = {r["diaSourceId"] for r in records if r["diaSource"].get("ssObjectId")}
    s = run_stream(StreamConfig(
        bootstrap=broker.bootstrap, topic=topic, archive=str(tmp_path / "archive"), checkpoint=str(tmp_path / "ckpt"),
        quality="rubin", available_now=True, schemas=str(paths.rubin_schemas()), topic_prefix=f"{topic}-",
        filters=["rubin_high_reliability", "known_sso"], metrics_port=None))
    assert s.input == 94 and s.dead_letters == 0 and s.quality_passed == 2 * len(reliable)
    archive = pq.read_table(tmp_path / "archive").to_pandas()
    assert sorted(archive["candid"]) == sorted(list(reliable) * 2)
    assert set(archive["survey"]) == {"rubin"} and archive["magpsf"].notna().all()
    assert sorted(candids(broker.bootstrap, s.topics.filters["rubin_high_reliability"])) == sorted(list(very) * 2)
    assert set(candids(broker.bootstrap, s.topics.filters["known_sso"])) == sso & reliable
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
