"""``msb run`` live, with faults mid-night: stages killed with kill -9 are restarted and nothing is
lost or archived twice; a killed broker ends the run clearly; Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.expected import fink_candids

pytestmark = pytest.mark.timeout(900)


class LiveRun:
    """``msb run`` in a subprocess, its stderr (the dashboard lines and events) in a file."""

    def __init__(self, tmp: Path, catalogs: Path, *extra: str, sigint_ignored: bool = False) -> None:
        self.out = tmp / "out"
        self.stderr = tmp / "run.err"
        self.stdout = tmp / "run.out"
        cmd = [sys.executable, "-m", "msb.cli", "run", "--out", str(self.out), "--catalogs", str(catalogs),
               "--plain", "--dashboard-every", "2", *extra]
        with open(self.stderr, "wb") as err, open(self.stdout, "wb") as out:
            # sigint_ignored: as a background job of a non-interactive shell (CI, nohup) starts it
            ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=ignore)

    def text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 400) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            assert self.proc.poll() is None, f"msb run ended early:\n{self.text()[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not seen in {timeout} s:\n{self.text()[-3000:]}")

    def pids(self) -> dict[str, int]:
        m = self.wait_for(r"stages: crossmatch (\d+), stream (\d+), replay (\d+)")
        return {"crossmatch": int(m[1]), "stream": int(m[2]), "replay": int(m[3])}

    def broker_pid(self) -> int:
        return int(self.wait_for(r"msb broker, pid (\d+)")[1])

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        code = self.proc.wait(timeout)
        return code, self.stdout.read_text(errors="replace")


def _alive(pid: str) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"  # zombies have exited
    except FileNotFoundError:
        return False


def left_behind(pids: list[int]) -> list[str]:
    """Processes still running in the process groups of these stages, or these pids themselves."""
    alive = []
    for pid in pids:
        groups = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
        alive += [f"{p} (group {pid})" for p in groups if _alive(p)]
        if _alive(str(pid)):
            alive.append(str(pid))
    return alive


def wait_path(check: object, run: LiveRun, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not (callable(check) and check()):
        assert run.proc.poll() is None, run.text()[-3000:]
        assert time.monotonic() < deadline, run.text()[-3000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalogs")


def test_kill_9_of_replay_stream_and_crossmatch_loses_nothing(ztf_night: Path, tmp_path: Path,
                                                              catalogs: Path) -> None:
    run = LiveRun(tmp_path, catalogs, "--data", str(ztf_night), "--visit-interval", "8", "--timeout", "700")
    pids = run.pids()
    # The replay, mid-night: after its first visit went out, before the last (visits every 8 s).
    run.wait_for(r"replay running in [1-9]\d* ")
    os.kill(pids["replay"], signal.SIGKILL)
    run.wait_for(r"replay restarted as pid")
    # The stream, once it committed a batch; the crossmatch once it classified some.
    ckpt = run.out / "checkpoint" / "commits"
    wait_path(lambda: ckpt.is_dir() and any(ckpt.iterdir()), run)
    os.kill(pids["stream"], signal.SIGKILL)
    run.wait_for(r"stream restarted as pid")
    classified = run.out / "classified"
    wait_path(lambda: classified.is_dir() and any(classified.glob("*.parquet")), run)
    os.kill(pids["crossmatch"], signal.SIGKILL)
    run.wait_for(r"crossmatch restarted as pid")
    code, out = run.finish()
    assert code == 0, out[-3000:] + run.text()[-3000:]
    for stage in ("replay", "stream", "crossmatch"):
        assert f"event: {stage} stopped (signal 9); restarted" in out
    expected = fink_candids(ztf_night)
    archived = pq.read_table(run.out / "archive", columns=["candid"])["candid"].to_pylist()
    assert sorted(archived) == sorted(expected)  # every alert, none twice
    got = set(pq.read_table(run.out / "classified", columns=["candid"])["candid"].to_pylist())
    assert got == expected
    assert "OK" in out.splitlines()[-1]


def test_broker_killed_ends_the_run_clearly(ztf_night: Path, tmp_path: Path, catalogs: Path) -> None:
    run = LiveRun(tmp_path, catalogs, "--data", str(ztf_night), "--visit-interval", "5", "--timeout", "600")
    broker = run.broker_pid()
    pids = run.pids()
    os.kill(broker, signal.SIGKILL)
    code, out = run.finish(timeout=120)
    assert code != 0
    assert "embedded broker stopped" in out and "memory only" in out
    assert not left_behind([*pids.values(), broker])


def test_ctrl_c_stops_every_stage_with_the_summary(ztf_night: Path, tmp_path: Path, catalogs: Path) -> None:
    run = LiveRun(tmp_path, catalogs, "--data", str(ztf_night), "--visit-interval", "2", "--forever",
                  sigint_ignored=True)  # as CI starts it: Ctrl-C must stop it all the same
    broker = run.broker_pid()
    pids = run.pids()
    run.wait_for(r"crossmatch running in [1-9]")  # alerts flowing through every stage
    run.proc.send_signal(signal.SIGINT)
    code, out = run.finish(timeout=120)
    assert "msb run summary" in out and "end-to-end latency per visit" in out
    assert code in (0, 130)
    assert not left_behind([*pids.values(), broker])
