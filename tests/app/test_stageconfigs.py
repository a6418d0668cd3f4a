"""msb run starts each stage from its component's config: the live stages' command lines are the
configs' to_args(), parse back with the components' own parsers to those configs, and carry
what msb run was asked; the sequential run uses the same configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from msb.cli import build_parser
from msb_app.live import LiveRun
from msb_app.stageconfigs import SESSION_TIMEOUT_MS, stage_configs
from msb_crossmatch.config import CrossmatchConfig
from msb_replay.config import ReplayConfig
from msb_replay.pacing import Pace
from msb_stream.config import StreamConfig

CONFIGS = {"replay": ReplayConfig, "stream": StreamConfig, "crossmatch": CrossmatchConfig}


def run_args(tmp: Path, *extra: str) -> object:
    args = build_parser().parse_args(["run", "--out", str(tmp), "--data", str(tmp / "night"), *extra])
    args.out = args.out.resolve()
    return args


@pytest.mark.parametrize("extra", [
    [],
    ["--visit-interval", "0.5", "--loop", "3", "--quality", "rubin", "--master", "local[1]", "--partitions", "2",
     "--trigger-seconds", "0.2", "--replay-metrics-port", "1", "--stream-metrics-port", "2", "--crossmatch-port", "3"],
    ["--forever", "--schemas", "/nonexistent"],
], ids=["defaults", "options", "forever"])
def test_live_stage_commands_parse_back_to_the_stage_configs(tmp_path: Path, extra: list[str]) -> None:
    args = run_args(tmp_path, *extra)
    run = LiveRun(args, "127.0.0.1:19092")  # type: ignore[arg-type]
    run.build_stages()
    assert run.configs is not None
    parser = build_parser()
    for name, cls in CONFIGS.items():
        command = run.stages[name].args
        assert command[0] == name
        assert cls.from_args(parser.parse_args(command)) == getattr(run.configs, name)
    replay, stream, xmatch = run.configs.replay, run.configs.stream, run.configs.crossmatch
    assert {replay.bootstrap, stream.bootstrap, xmatch.bootstrap} == {"127.0.0.1:19092"}
    assert replay.topic == stream.topic and stream.processed == xmatch.topic
    assert replay.fresh_ids and not replay.progress and replay.summary_json == run.replay_summary_file
    assert xmatch.session_timeout_ms == SESSION_TIMEOUT_MS and xmatch.group == "msb-run"
    assert stream.checkpoint == str(tmp_path.resolve() / "checkpoint")
    urls = {name: run.stages[name].metrics_url for name in CONFIGS}
    assert urls == {"replay": f"http://127.0.0.1:{replay.metrics_port}/metrics",
                    "stream": f"http://127.0.0.1:{stream.metrics_port}/metrics",
                    "crossmatch": f"http://127.0.0.1:{xmatch.http_port}/metrics"}
    if "--visit-interval" in extra:
        assert replay.pace == Pace("visit-interval", 0.5) and replay.loops == 3 and replay.partitions == 2
        assert stream.quality == "rubin" and stream.master == "local[1]" and stream.trigger_seconds == 0.2
        assert (replay.metrics_port, stream.metrics_port, xmatch.http_port) == (1, 2, 3)
    if "--forever" in extra:
        assert replay.loops is None and replay.schemas is None and stream.schemas is None  # no such folder


def test_a_restarted_replay_resumes(tmp_path: Path) -> None:
    run = LiveRun(run_args(tmp_path), "127.0.0.1:19092")  # type: ignore[arg-type]
    run.build_stages()
    assert run.configs is not None
    first = run.configs.replay
    assert "--resume" not in run.stages["replay"].args
    run.configs.replay = dataclasses.replace(first, resume=True)  # what supervise() does on a restart
    assert ReplayConfig.from_args(build_parser().parse_args(["replay", *run.configs.replay.to_args()])).resume


def test_the_sequential_run_uses_the_same_configs(tmp_path: Path) -> None:
    args = run_args(tmp_path, "--visit-interval", "2")
    ports: dict[str, int | None] = {"replay": None, "stream": None, "crossmatch": None}
    cfg = stage_configs(args, "127.0.0.1:19092", ports)  # type: ignore[arg-type]
    live = LiveRun(args, "127.0.0.1:19092")  # type: ignore[arg-type]
    live.build_stages()
    assert live.configs is not None
    assert cfg.crossmatch.session_timeout_ms == live.configs.crossmatch.session_timeout_ms == SESSION_TIMEOUT_MS
    assert cfg.replay.pace == live.configs.replay.pace and cfg.stream.archive == live.configs.stream.archive
    assert cfg.crossmatch.http_port is None and cfg.stream.metrics_port is None  # not served unless asked


def test_msb_run_former_xmatch_port_flag_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["run", "--xmatch-port", "7"]).crossmatch_port == 7
    assert "msb run: --xmatch-port is deprecated and will go: use --crossmatch-port" in capsys.readouterr().err
    assert build_parser().parse_args(["run"]).crossmatch_port is None
