"""The command line: bad input, unreachable broker, undelivered alerts, consume and cutouts."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import fastavro
import pytest
from PIL import Image

from msb.broker import EmbeddedBroker, free_port

from .helpers import files, msb, read_all


def _bad_inputs(folder: Path, ztf_night: Path) -> dict[str, str]:
    """One of each bad-input case, beside real alerts; name -> the reason the message must give."""
    real = files(ztf_night)[0].read_bytes()
    (folder / "corrupt_header.avro").write_bytes(real[:2000] + bytes(range(256)) * 10 + real[4560:])
    (folder / "corrupt_block.avro").write_bytes(real[:-16] + bytes(16))  # sync marker overwritten
    (folder / "truncated.avro").write_bytes(real[: len(real) // 2])
    (folder / "notavro.avro").write_text("objectId,ra,dec\nZTF18,1,2\n")
    buf = io.BytesIO()
    schema = {"type": "record", "name": "weather.reading", "fields": [{"name": "t", "type": "double"}]}
    fastavro.writer(buf, schema, [{"t": 1.0}])
    (folder / "unknown_schema.avro").write_bytes(buf.getvalue())
    return {
        "corrupt_header.avro": "unreadable writer schema",
        "corrupt_block.avro": "sync marker mismatch (corrupt block)",
        "truncated.avro": "truncated",
        "notavro.avro": "neither an Avro container file nor Confluent",
        "unknown_schema.avro": "unknown alert schema 'weather.reading'",
    }


def test_bad_input_is_named_skipped_and_counted(broker, topic, ztf_night: Path, tmp_path: Path) -> None:
    data = tmp_path / "night"
    shutil.copytree(ztf_night, data)
    cases = _bad_inputs(data, ztf_night)
    res = msb("replay", "--data", str(data), "--bootstrap", broker.bootstrap, "--topic", topic,
              "--metrics-port", "-1", "--no-progress")
    assert res.returncode == 0, res.stderr
    for name, reason in cases.items():
        line = next((ln for ln in res.stderr.splitlines() if name in ln), "")
        assert reason in line, f"{name}: {line!r}"
    assert "alerts delivered   498" in res.stdout and "skipped files      5" in res.stdout
    assert len(read_all(broker.bootstrap, topic)) == 498  # every good alert still arrives


def test_nothing_to_send_is_an_error(broker, topic, ztf_night: Path, tmp_path: Path) -> None:
    """A folder of bad files only, or of no alert files, delivers nothing: exit 2 with the reason."""
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = _bad_inputs(bad, ztf_night)
    res = msb("replay", "--data", str(bad), "--bootstrap", broker.bootstrap, "--topic", topic,
              "--metrics-port", "-1", "--no-progress")
    assert res.returncode == 2, res.stderr
    assert f"msb replay: nothing was delivered: all {len(cases)} files were bad (each named above) in {bad}" \
        in res.stderr
    assert all(name in res.stderr for name in cases)  # each still named with its reason
    empty = tmp_path / "empty"
    empty.mkdir()
    res = msb("replay", "--data", str(empty), "--bootstrap", broker.bootstrap, "--topic", topic,
              "--metrics-port", "-1", "--no-progress")
    assert res.returncode == 2, res.stderr
    assert f"msb replay: nothing was delivered: no alert files found in {empty}" in res.stderr


def test_msb_run_does_not_restart_a_replay_with_nothing_to_send(broker, topic, tmp_path: Path) -> None:
    """``msb run`` restarts a replay that died, but one that found nothing to send would only find nothing
    again: the run stops, saying why."""
    from msb_app.live import LiveRun
    from msb_app.stages import Stage

    empty = tmp_path / "empty"
    empty.mkdir()
    run = LiveRun(argparse.Namespace(out=tmp_path), broker.bootstrap)
    replay = run.stages["replay"] = Stage("replay", ["replay", "--data", str(empty), "--bootstrap", broker.bootstrap,
                                                      "--topic", topic, "--metrics-port", "-1", "--no-progress"],
                                          tmp_path / "replay.log")
    replay.start()
    assert replay.proc is not None and replay.proc.wait(120) == 2
    with pytest.raises(RuntimeError, match="nothing to send") as failed:
        run.supervise(lambda _text: None)
    assert "no alert files found" in str(failed.value) and replay.starts == 1


def test_strict_stops_at_first_bad_file(broker, topic, ztf_night: Path, tmp_path: Path) -> None:
    data = tmp_path / "night"
    data.mkdir()
    for p in files(ztf_night)[:5]:
        shutil.copy(p, data)
    (data / "999999999999999999_truncated.avro").write_bytes(files(ztf_night)[0].read_bytes()[:100])
    res = msb("replay", "--data", str(data), "--bootstrap", broker.bootstrap, "--topic", topic,
              "--metrics-port", "-1", "--strict", "--no-progress")
    assert res.returncode == 2
    assert "999999999999999999_truncated.avro" in res.stderr and "truncated" in res.stderr


def test_unreachable_broker_fails_fast_and_clearly(ztf_night: Path) -> None:
    port = free_port()  # nothing listens here
    t0 = time.monotonic()
    res = msb("replay", "--data", str(ztf_night), "--bootstrap", f"127.0.0.1:{port}", "--metrics-port", "-1")
    assert res.returncode == 3
    assert f"Kafka at 127.0.0.1:{port} is unreachable" in res.stderr
    assert time.monotonic() - t0 < 20


def test_broker_dying_mid_replay_gives_nonzero_exit(ztf_night: Path, tmp_path: Path) -> None:
    with EmbeddedBroker() as dying:
        proc = subprocess.Popen(
            [sys.executable, "-m", "msb.cli", "replay", "--data", str(ztf_night), "--bootstrap", dying.bootstrap,
             "--topic", "doomed", "--rate", "50", "--delivery-timeout", "3", "--metrics-port", "-1", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(4)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "alerts were NOT delivered" in err
    delivered = int(next(ln for ln in out.splitlines() if "alerts delivered" in ln).split()[-1])
    failed = int(next(ln for ln in out.splitlines() if "failed deliveries" in ln).split()[-1])
    assert 0 < delivered < 498 and failed > 0


def test_consume_prints_json_and_writes_cutout_pngs(broker, topic, ztf_night: Path, tmp_path: Path) -> None:
    res = msb("replay", "--data", str(ztf_night), "--bootstrap", broker.bootstrap, "--topic", topic,
              "--limit", "4", "--metrics-port", "-1", "--no-progress")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "png"
    res = msb("consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--json", "--idle", "2",
              "--cutouts", str(out))
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 4 and {"objectId", "candid", "jd", "ra", "dec", "magpsf", "band"} <= set(rows[0])
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"{r['objectId']}_{r['candid']}.png" for r in rows)
    img = Image.open(pngs[0])
    assert img.format == "PNG" and img.width > 3 * 150
    # Three panels of real pixels: each panel's pixels vary (not a blank placeholder).
    third = img.width // 3
    for i in range(3):
        panel = img.crop((i * third + 5, 30, (i + 1) * third - 5, 150)).convert("L")
        lo, hi = panel.getextrema()
        assert hi - lo > 50


def test_consume_table(broker, topic, ztf_night: Path) -> None:
    msb("replay", "--data", str(ztf_night), "--bootstrap", broker.bootstrap, "--topic", topic,
        "--limit", "3", "--metrics-port", "-1", "--no-progress")
    res = msb("consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--idle", "2")
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["objectId", "candid", "jd"]
    assert len(lines) == 4 and all(ln.startswith("ZTF") for ln in lines[1:])
    assert "3 alerts read" in res.stderr


def test_replay_needs_only_its_own_extra(broker, topic, ztf_night: Path) -> None:
    """`msb replay` imports nothing of the columnar stack (numpy, pyarrow, pandas...): it starts fast
    and lean; it once imported the Arrow survey adapters through msb.alert at start."""
    code = ("import sys\n"
            "for name in ('numpy', 'pyarrow', 'pandas', 'pyspark', 'astropy'):\n"
            "    sys.modules[name] = None  # importing it fails, as where it is not installed\n"
            "from msb.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", code, "replay", "--data", str(ztf_night), "--bootstrap",
                          broker.bootstrap, "--topic", topic, "--limit", "20", "--metrics-port", "-1", "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(read_all(broker.bootstrap, topic)) == 20
