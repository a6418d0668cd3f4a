"""ReplayConfig owns msb replay's options: its command line parses back to the same config, every
flag is named like its field, and the former spellings still work with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from msb.cli import build_parser
from msb_replay.config import ReplayConfig
from msb_replay.pacing import Pace
from tests.configs import assert_every_option_changed, assert_flags_named_like_fields, assert_round_trip, parse


def every_option_changed() -> ReplayConfig:
    return ReplayConfig(
        data=[Path("a.avro"), Path("night dir"), Path("n.tar.gz")], bootstrap="kafka:9093", topic="t-1",
        partitions=7, pace=Pace("speed", 2.5), loops=None, limit=3, fresh_ids=True, resume=True,
        wire_format="confluent", schema_id=703, schemas=Path("schemas"), schema_registry="http://registry:8081",
        strict=True, metrics_port=None, delivery_timeout=1.25, progress=False, summary_json=Path("s.json"))


def test_the_full_config_changes_every_option() -> None:
    assert_every_option_changed(every_option_changed(), ReplayConfig(data=[Path("x")]))


@pytest.mark.parametrize("cfg", [
    every_option_changed(),
    ReplayConfig(data=[Path("a")]),
    ReplayConfig(data=[Path("a")], pace=Pace("visit-interval", 0.1), loops=5, metrics_port=0),
    ReplayConfig(data=[Path("a")], pace=Pace("rate", 1e-3), progress=True),
], ids=["every-option", "defaults", "visit-interval", "rate"])
def test_config_to_args_parses_back_to_the_same_config(cfg: ReplayConfig) -> None:
    assert_round_trip(cfg, "replay")


def test_to_args_writes_only_what_differs_from_the_defaults() -> None:
    assert ReplayConfig(data=[Path("d")], bootstrap="k:1").to_args() == ["--data", "d", "--bootstrap", "k:1"]
    assert ReplayConfig(data=[Path("d")], bootstrap="k:1", metrics_port=None).to_args()[-2:] == \
        ["--metrics-port", "-1"]


def test_every_flag_is_named_like_its_field() -> None:
    # the pace is one field set by a flag per mode; --forever sets loops to None
    assert_flags_named_like_fields(ReplayConfig, "replay", frozenset({"visit_interval", "speed", "rate", "max",
                                                                      "forever"}))


@pytest.mark.parametrize(("old", "new", "field", "value"), [
    (["--fresh-candids"], "--fresh-ids", "fresh_ids", True),
    (["--loop", "3"], "--loops", "loops", 3),
    (["--format", "confluent"], "--wire-format", "wire_format", "confluent"),
])
def test_former_flags_still_work_and_say_they_are_deprecated(old: list[str], new: str, field: str, value: object,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = parse(ReplayConfig, "replay", ["--data", "d", *old])
    assert getattr(cfg, field) == value
    assert f"msb replay: {old[0]} is deprecated and will go: use {new}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay", "--help"])
    assert f"{old[0]} " not in capsys.readouterr().out  # hidden from --help


def test_loops_and_forever_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(ReplayConfig, "replay", ["--data", "d", "--loops", "2", "--forever"])
    assert "not allowed with argument" in capsys.readouterr().err
