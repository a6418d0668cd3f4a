"""The chart's Fink-style topic set and its subscribers: KafkaTopics named as `msb stream` names them, a
read-only KafkaUser, and an optional SASL_PLAINTEXT listener that fink-client's AlertConsumer can use.

SASL is exercised here only as rendered objects (the embedded broker, tansu 0.6.0, cannot run SCRAM:
README, "Subscribe"); the listener's protocol is checked against what fink-client itself configures."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_support import CHART, find, notes, one, pod_spec, render

from msb.cli import build_parser
from msb_stream.cli import config_from_args

helm_python = pytest.importorskip("helm_python")

LISTENER = {"kafka": {"strimzi": {"subscribers": {"listener": {"enabled": True}}}}}


def acls(user: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"], op)
            for a in user["spec"]["authorization"]["acls"] for op in a["operations"]}


def filter_topics_of_stream(docs: list[dict[str, Any]]) -> set[str]:
    """The filter topics the rendered `msb stream` command line writes, as the stream computes them."""
    command = pod_spec(one(docs, "Deployment", "msb-stream"))["containers"][0]["args"]
    config = config_from_args(build_parser().parse_args(["stream", *command]))
    return {t for f in config.filters for t in config.filter_topics(f)}


def filters(**values: str) -> dict[str, Any]:
    return {"kafka": {"topics": {"filters": values}}}


@pytest.mark.parametrize("values", [{}, {"stream": {"distribution": "container"}},
                                    filters(topicPrefix="eu.", format="{filter}-{survey}"),
                                    filters(format="msb_{filter}")],
                         ids=["fink", "container", "prefix-and-format", "no-survey"])
def test_the_chart_creates_exactly_the_topics_the_stream_writes(values: dict[str, Any]) -> None:
    """KafkaTopics and the stream's Write ACLs = the topics `msb stream` computes from its rendered
    arguments: the stream may not create topics under Strimzi, so a missing one would stop it."""
    docs = render(values)
    written = filter_topics_of_stream(docs)
    topics = {t["spec"]["topicName"] for t in find(docs, "KafkaTopic")} - {"raw", "processed", "classified",
                                                                            "dead-letters"}
    assert topics == written and len(written) >= 5
    writes = {name for kind, name, _, op in acls(one(docs, "KafkaUser", "msb-stream")) if op == "Write"}
    assert writes == written | {"processed", "dead-letters"}


def test_the_default_topic_set_is_finks_names() -> None:
    written = filter_topics_of_stream(render())
    assert "fink_known_sso_ztf" in written and "fink_rubin_high_reliability_lsst" in written
    assert all(t.startswith("fink_") and t.endswith(("_ztf", "_lsst")) for t in written)


def test_subscriber_user_reads_the_filter_topics_and_nothing_else() -> None:
    docs = render()
    user = one(docs, "KafkaUser", "msb-subscriber")
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    topics = filter_topics_of_stream(docs)
    assert acls(user) == ({("topic", t, "literal", op) for t in topics for op in ("Describe", "Read")}
                          | {("group", "fink-", "prefix", "Describe"), ("group", "fink-", "prefix", "Read")})
    custom = one(render({"kafka": {"strimzi": {"subscribers": {"groupPrefix": "astro."}}}}), "KafkaUser",
                 "msb-subscriber")
    assert ("group", "astro.", "prefix", "Read") in acls(custom)
    for values in ({"kafka": {"strimzi": {"subscribers": {"enabled": False}}}},
                   {"kafka": {"strimzi": {"authentication": False}}}, {"stream": {"enabled": False}}):
        assert not find(render(values), "KafkaUser", "msb-subscriber"), values


def test_no_subscribers_listener_unless_asked() -> None:
    listeners = one(render(), "Kafka")["spec"]["kafka"]["listeners"]
    assert [x["name"] for x in listeners] == ["tls"]


def test_subscribers_listener_speaks_what_fink_client_speaks() -> None:
    """fink-client's AlertConsumer, given a username and password, configures SASL_PLAINTEXT with
    SCRAM-SHA-512 (its _get_kafka_config, from the installed package): the listener must be that."""
    from fink_client.consumer import _get_kafka_config

    client = _get_kafka_config({"username": "msb-subscriber", "password": "p", "group.id": "fink-1",
                                "bootstrap.servers": "localhost:9094"})
    docs = render({**LISTENER, "kafka": {"strimzi": {**LISTENER["kafka"]["strimzi"], "nodePool": {"replicas": 3}}}})
    sub = next(x for x in one(docs, "Kafka")["spec"]["kafka"]["listeners"] if x["name"] == "subscribers")
    assert (client["security.protocol"].upper(), client["sasl.mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert sub["tls"] is False and sub["authentication"] == {"type": "scram-sha-512"}
    assert sub["port"] == 9094 and sub["type"] == "internal"
    # One advertised port per broker, for one port-forward each.
    assert sub["configuration"]["brokers"] == [{"broker": i, "advertisedHost": "localhost", "advertisedPort": 9094 + i}
                                               for i in range(3)]
    assert sub["networkPolicyPeers"] == [{"podSelector": {"matchLabels": {"msb-subscriber": "true"}}}]
    in_cluster = render({"kafka": {"strimzi": {"subscribers": {"listener": {"enabled": True, "advertisedHost": ""}}}}})
    sub = next(x for x in one(in_cluster, "Kafka")["spec"]["kafka"]["listeners"] if x["name"] == "subscribers")
    assert "configuration" not in sub  # Strimzi's own broker names, for subscriber pods
    text = notes(LISTENER)
    assert "port-forward pod/msb-kafka-dual-role-0 9094:9094" in text and "secret msb-subscriber" in text


def test_schema_rejects_bad_subscriber_and_topic_values() -> None:
    chart = helm_python.Chart.load(str(CHART))
    for values in ({"stream": {"distribution": "avro"}},
                   filters(format="fink_{survey}"), filters(format="fink {filter}"),
                   {"networkPolicy": {"subscribersFrom": []}},
                   {"kafka": {"strimzi": {"subscribers": {"groupPrefix": ""}}}},
                   {"kafka": {"strimzi": {"subscribers": {"listener": {"port": 0}}}}}):
        with pytest.raises(helm_python.HelmError):
            chart.validate_schema(values)
