"""The front's ListOffsets handling in both encodings Kafka clients use: classic (v1, librdkafka on old
brokers) and flexible (v7, e.g. the Java client in Spark's native connector), over a raw socket."""

from __future__ import annotations

import pytest

from msb import kafka_wire as wire
from msb.broker import EmbeddedBroker
from tests.broker.raw import list_offsets, offsets
from tests.broker.test_end_offsets import produce_batched


@pytest.mark.parametrize("version", [1, 4, 7])
def test_list_offsets_answers_the_true_end(broker: EmbeddedBroker, topic: str, version: int) -> None:
    sent = produce_batched(broker.bootstrap, topic, linger_ms=20)
    assert offsets(broker.bootstrap, topic, [0, 1], wire.LATEST, version) == dict(sent)  # and no error


@pytest.mark.parametrize("version", [1, 4, 7])
def test_list_offsets_requests_name_what_they_ask(version: int) -> None:
    """The front notes the partitions asked for their end or start; a time's offset passes untouched."""
    def asked(timestamp: int) -> dict[tuple[str, int], int]:
        return wire.parse_list_offsets_request(list_offsets(version, "t", [0, 3], timestamp)[4:], version)

    assert asked(wire.LATEST) == {("t", 0): wire.LATEST, ("t", 3): wire.LATEST}
    assert asked(wire.EARLIEST) == {("t", 0): wire.EARLIEST, ("t", 3): wire.EARLIEST}
    assert asked(1_700_000_000_000) == {}
