"""The stream's Kafka settings as each client reads them: librdkafka's for msb's Python source,
the Java client's for Spark's native connector (with the chart's defaults: SCRAM + a CA)."""

from __future__ import annotations

import pytest

from msb.kafka import java_client_config
from msb_stream.job import StreamConfig, StreamJob

CHART_ENV = {  # what the chart sets with Strimzi authentication on and a CA Secret
    "MSB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "MSB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "MSB_KAFKA_SASL_USERNAME": "msb-stream",
    "MSB_KAFKA_SASL_PASSWORD": 'p"a\\ss',
    "MSB_KAFKA_OPTIONS": "ssl.ca.location=/etc/msb/kafka-ca/ca.crt",
}


@pytest.fixture
def chart_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in CHART_ENV.items():
        monkeypatch.setenv(k, v)


def _options(kafka_format: str) -> dict[str, str]:
    job = StreamJob(StreamConfig(bootstrap="kafka:9092", topic="raw", archive="/a", checkpoint="/c",
                                 kafka_format=kafka_format))
    return job._kafka_options()


def test_native_connector_gets_jaas_and_a_truststore(chart_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = _options("native")
    assert opts["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="msb-stream" '
        'password="p\\"a\\\\ss";')
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert opts["kafka.ssl.truststore.location"] == "/etc/msb/kafka-ca/ca.crt"
    assert opts["kafka.security.protocol"] == "SASL_SSL" and opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert not {"kafka.sasl.username", "kafka.sasl.password", "kafka.ssl.ca.location"} & set(opts)


def test_python_source_keeps_librdkafka_settings(chart_env: None) -> None:
    opts = _options("python")
    assert opts["kafka.sasl.username"] == "msb-stream" and opts["kafka.ssl.ca.location"].endswith("ca.crt")
    assert "kafka.sasl.jaas.config" not in opts


def test_plain_mechanism_and_unknown_mechanism() -> None:
    conf = java_client_config({"sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p"})
    assert conf["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule required")
    with pytest.raises(ValueError, match="GSSAPI"):
        java_client_config({"sasl.mechanism": "GSSAPI", "sasl.username": "u"})
