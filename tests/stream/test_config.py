"""StreamConfig owns msb stream's options: its command line parses back to the same config and every
flag is named like its field (no Spark needed)."""

from __future__ import annotations

import pytest

from msb_stream.config import StreamConfig
from tests.configs import assert_every_option_changed, assert_flags_named_like_fields, assert_round_trip, parse


def every_option_changed() -> StreamConfig:
    return StreamConfig(
        bootstrap="kafka:9093", topic="raw,rubin", starting_offsets='{"raw": {"0": 5}}', max_offsets_per_trigger=9,
        schemas="schemas", schema_registry="http://registry:8081", kafka_format="python", max_records_per_partition=0,
        quality="rubin", cut=["rb>=0.7", "nbad<2"], filters=["known_sso", "is_transient"], filters_dir=["a", "b c"],
        keep_cutouts=True, archive="out/archive", checkpoint="out/ckpt", topic_prefix="p-", processed_topic="pp",
        dead_letter_topic="dl", distribution="container", fink_topics="x_{filter}_{survey}", available_now=True,
        trigger_seconds=0.25, master="k8s://https://kube:6443", metrics_port=None,
        conf={"spark.a": "1=2", "spark.b": ""}, app_name="n", json=True, image="msb-stream:dev", namespace="ns",
        service_account="sa", executors=3, executor_memory="2g", executor_cores=2, dynamic_allocation=True,
        min_executors=1, max_executors=5)


def test_the_full_config_changes_every_option() -> None:
    assert_every_option_changed(every_option_changed(), StreamConfig(topic="t", archive="a", checkpoint="c"))


@pytest.mark.parametrize("cfg", [
    every_option_changed(),
    StreamConfig(topic="t", archive="a", checkpoint="c"),
    StreamConfig(topic="t", archive="a", checkpoint="c", filters=[], metrics_port=0, trigger_seconds=1e-3),
], ids=["every-option", "defaults", "no-filters"])
def test_config_to_args_parses_back_to_the_same_config(cfg: StreamConfig) -> None:
    assert_round_trip(cfg, "stream")


def test_every_flag_is_named_like_its_field() -> None:
    assert_flags_named_like_fields(StreamConfig, "stream")


def test_kubernetes_options_become_spark_settings_under_conf() -> None:
    needed = ["--topic", "t", "--archive", "a", "--checkpoint", "c"]
    cfg = parse(StreamConfig, "stream", [*needed, "--master", "k8s://https://k:1", "--executors", "4",
                                         "--conf", "spark.executor.instances=2"])
    assert cfg.spark_conf == {"spark.executor.instances": "2"}  # --conf wins over the flag
    local = parse(StreamConfig, "stream", [*needed, "--executors", "4"])
    assert local.spark_conf == {}  # Kubernetes settings only with a k8s:// master
