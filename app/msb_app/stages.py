"""Pipeline stages as child processes: each one the same ``msb <command>`` a container runs.

A stage runs in its own session (process group), so a Ctrl-C at the terminal reaches only
``msb run``, which then stops the stages in order; stopping signals the whole group, so Spark's
JVM goes with its driver. Each child is also killed if ``msb run`` itself dies (PR_SET_PDEATHSIG),
so no path leaves a process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from msb.broker import die_with_parent


@dataclass
class Stage:
    name: str
    args: list[str]  # after ``msb``
    log: Path
    metrics_url: str | None = None
    restartable: bool = True
    program: list[str] | None = None  # another program instead of ``msb <args>`` (e.g. Prometheus)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: list[str] = field(default_factory=list)  # how each earlier run ended

    @property
    def command(self) -> list[str]:
        return self.program or [sys.executable, "-m", "msb.cli", *self.args]

    def start(self, env: dict[str, str] | None = None) -> None:
        self._signal(signal.SIGKILL)  # a restart: what is left of the previous run's group (e.g. its JVM)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n--- {' '.join(self.program or ['msb', *self.args])}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=die_with_parent,
                                         env={**os.environ, **(env or {})})
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ended(self) -> str | None:
        """How the current run ended ('exit 0', 'exit 1', 'signal 9'), None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        return f"signal {-code}" if code < 0 else f"exit {code}"

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT (what the command handles as Ctrl-C: it stops cleanly), SIGKILL to the group after ``grace``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGINT)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # whatever of the group is left (e.g. a JVM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._wait_group_gone(5.0)

    def _wait_group_gone(self, timeout: float) -> None:
        """Until no process of the group is left (orphans such as the JVM die a moment after the signal)."""
        deadline = time.monotonic() + timeout
        while self.proc is not None and time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def stop_all(stages: list[Stage], grace: float = 20.0) -> None:
    """Stops stages in the given order (producers first, so downstream ones see their last input).
    A second Ctrl-C meanwhile kills whatever is left at once."""
    try:
        for stage in stages:
            stage.stop(grace)
    except KeyboardInterrupt:
        for stage in stages:
            stage.kill()
