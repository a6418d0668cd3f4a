"""Replay after a crash (--resume) and looping with fresh alert ids (--fresh-ids), on real packets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from msb import paths
from msb.alert import packet_info, summary
from msb.avro import AlertDecoder, SchemaStore
from msb.broker import EmbeddedBroker
from msb_replay.replay import ReplayConfig, run_replay

from .helpers import files, read_all


def _replay(broker: EmbeddedBroker, topic: str, data: list[Path], **kw: object) -> object:
    return run_replay(ReplayConfig(data=data, bootstrap=broker.bootstrap, topic=topic,
                                   **{"progress": False, "metrics_port": None, **kw}))


def test_resume_sends_only_what_is_missing(broker: EmbeddedBroker, topic: str, ztf_night: Path) -> None:
    first = _replay(broker, topic, [ztf_night], limit=150)  # a replay that stopped part-way
    assert first.alerts == 150
    second = _replay(broker, topic, [ztf_night], resume=True)
    assert second.alerts == 498 - 150
    decoder = AlertDecoder()
    ids = Counter(packet_info(decoder, r.value).alert_id for r in read_all(broker.bootstrap, topic))
    assert len(ids) == 498 and set(ids.values()) == {1}  # every alert once


def test_fresh_candids_make_every_loop_new(broker: EmbeddedBroker, topic: str, rubin_dir: Path,
                                           ztf_night: Path) -> None:
    night = files(ztf_night)[:40]
    done = _replay(broker, topic, night, loops=3, fresh_ids=True)
    assert done.alerts == 120
    decoder = AlertDecoder()
    alerts = [decoder.decode(r.value) for r in read_all(broker.bootstrap, topic)]
    candids = [a["candid"] for a in alerts]
    assert len(set(candids)) == 120
    assert all(a["candid"] == a["candidate"]["candid"] for a in alerts)
    originals = {decoder.decode(p.read_bytes())["candid"] for p in night}
    assert originals <= set(candids)  # the first loop sends the packets as they are
    # Rubin's ids too, in the Confluent wire format
    rubin_topic = f"{topic}-rubin"
    schemas = SchemaStore(paths.rubin_schemas())
    done = _replay(broker, rubin_topic, files(rubin_dir)[:10], loops=2, fresh_ids=True, wire_format="confluent",
                   schemas=paths.rubin_schemas())
    assert done.alerts == 20
    rubin = AlertDecoder(schemas)
    got = [summary(rubin.decode(r.value))["candid"] for r in read_all(broker.bootstrap, rubin_topic)]
    assert len(set(got)) == 20
