"""CrossmatchConfig owns msb crossmatch's options (its HTTP API limits nested in it): its command line
parses back to the same config and every flag is named like its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from msb_crossmatch.config import CrossmatchConfig
from msb_crossmatch.limits import ApiLimits
from tests.configs import assert_every_option_changed, assert_flags_named_like_fields, assert_round_trip


def every_option_changed() -> CrossmatchConfig:
    return CrossmatchConfig(
        bootstrap="kafka:9093", topic="p", out_topic="o", group="g", out=Path("out dir"), distribution="fink",
        http_port=None, http_host="127.0.0.1", catalogs=Path("cats"), only=["vsx", "gaia"], batch_size=7,
        session_timeout_ms=6000, exit_when_idle=2.5, cds_url="http://cds", cds_timeout=1.5, api_only=True,
        api_limits=ApiLimits(max_body=12345, max_positions=3, max_work=9, max_response=3 * 2**19, max_concurrent=1,
                             header_timeout=0.1, body_timeout=2.0))


def test_the_full_config_changes_every_option() -> None:
    assert_every_option_changed(every_option_changed(), CrossmatchConfig())


@pytest.mark.parametrize("cfg", [
    every_option_changed(),
    CrossmatchConfig(),
    CrossmatchConfig(http_port=0, api_limits=ApiLimits(max_body=1, max_response=1 << 30)),
], ids=["every-option", "defaults", "sizes"])
def test_config_to_args_parses_back_to_the_same_config(cfg: CrossmatchConfig) -> None:
    assert_round_trip(cfg, "crossmatch")


def test_sizes_are_written_in_their_own_words() -> None:
    args = CrossmatchConfig(api_limits=ApiLimits(max_response=3 * 2**19)).to_args()
    assert args[args.index("--max-response") + 1] == "1536KiB"


def test_every_flag_is_named_like_its_field() -> None:
    assert_flags_named_like_fields(CrossmatchConfig, "crossmatch")
