"""`make lab`: the embedded broker, a replay looping the night into topic ``raw``, and JupyterLab on the
bootcamp with this venv's kernel, supervised so that Ctrl-C stops every process they started.

Why a Python supervisor rather than a shell script with traps: a script started from a background job
of a non-interactive shell (CI runners, ``make test &``, agents) inherits SIGINT *ignored*, and bash
cannot trap a signal that was ignored on entry, so Ctrl-C did nothing and all three ran on. Here:

* the handlers are installed explicitly (Python can take back a signal ignored on entry);
* each component is a :class:`msb_app.stages.Stage`, as under ``msb run``: a session (process group) of
  its own, stdin closed (no Jupyter "shut down?" prompt); all are stopped together, as groups: SIGTERM
  (Jupyter's clean stop; Stage.stop's SIGINT would not be), then SIGKILL after :data:`GRACE` seconds;
* the supervisor is a *child subreaper*: a process orphaned on the way down (Jupyter starts each kernel
  in a session of its own; a kernel starts Spark's JVM) is re-parented to it, so it finds and kills
  whatever is left of its tree, and reaps it;
* each component dies with the supervisor (``PR_SET_PDEATHSIG``) if the supervisor is killed outright.

Settings come from the environment (see bootcamp/README.md); ``bootcamp/lab.sh`` execs this file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from msb import paths
from msb_app.stages import Stage

GRACE = 4.0  # seconds between SIGTERM and SIGKILL: the whole stop stays well under 10 s, also under load
KAFKA_START_TIMEOUT = 120.0
LAB_START_TIMEOUT = 600.0  # JupyterLab's first start on a loaded machine can take minutes
PR_SET_CHILD_SUBREAPER = 36


class StopRequested(Exception):
    pass


class Signals:
    """SIGINT, SIGTERM and SIGHUP ask for a stop; a second one while stopping skips the grace period."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.hurry = False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)  # also takes back a signal inherited as ignored

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self.hurry = True
        self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise StopRequested


def become_subreaper() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(root: int) -> tuple[list[int], list[int]]:
    """(live, zombie) pids below ``root``."""
    children: dict[int, list[int]] = {}
    table = process_table()
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    live, zombies, todo = [], [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        (zombies if table[pid][1] == "Z" else live).append(pid)
        todo += children.get(pid, [])
    return live, zombies


def reap(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def signal_all(pids: list[int], groups: list[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_all(components: list[Stage], signals: Signals, grace: float = GRACE) -> list[str]:
    """SIGTERM to every component's group; then SIGKILL to everything still below this process once the
    components have exited (what is left is orphaned: nobody else will stop it), after ``grace`` s, or
    at a second Ctrl-C. Returns the command lines of the processes killed."""
    me = os.getpid()
    groups = [c.pid for c in components if c.pid]  # each leads a session, so its pid is its group id
    signal_all([], groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        live, zombies = descendants(me)
        reap(zombies)
        components_done = not any(pid in live for pid in groups)
        if not live or components_done or signals.hurry or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    killed = [command_line(pid) for pid in live]
    for _ in range(100):  # a process may fork while we kill; each round catches the newcomers
        if not live:
            break
        signal_all(live, groups, signal.SIGKILL)
        time.sleep(0.05)
        live, zombies = descendants(me)
        reap(zombies)
    return killed


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:100] or str(pid)
    return str(pid)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(port: int, component: Stage, timeout: float, signals: Signals) -> None:
    deadline = time.monotonic() + timeout
    while not listening(port):
        signals.check()
        if component.ended():
            raise RuntimeError(f"{component.name} ended ({component.ended()}) before listening on port {port}; "
                               f"see {component.log}:\n{component.tail(5)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{component.name} did not listen on port {port} within {timeout:.0f} s; "
                               f"see {component.log}")
        time.sleep(0.1)


def port_setting(variable: str, default: int) -> int:
    """A free port from the environment; SystemExit naming the variable if it is not one."""
    value = os.environ.get(variable) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"make lab: {variable}={value} is not a port number")
    if listening(int(value)):  # the lab would otherwise take a stranger's broker or server for its own
        raise SystemExit(f"make lab: port {value} is in use (another make lab?); choose another with {variable}")
    return int(value)


def start(components: list[Stage], name: str, args: list[str], log: Path, program: list[str] | None = None) -> Stage:
    stage = Stage(name, args, log, program=program)
    components.append(stage)  # before it starts: a stop must find it whatever happens next
    stage.start()
    return stage


def main() -> int:
    kafka_port, lab_port = port_setting("LAB_KAFKA_PORT", 9092), port_setting("LAB_PORT", 8888)
    signals = Signals()
    become_subreaper()
    os.chdir(paths.REPO_ROOT)
    venv_bin = Path(sys.executable).parent
    visit_interval = os.environ.get("LAB_VISIT_INTERVAL", "30")  # the survey's own cadence
    data = Path(os.environ.get("MSB_DATA") or paths.ztf_night())  # what the notebooks read too
    out = Path(os.environ.get("OUT", "out")) / "bootcamp"
    out.mkdir(parents=True, exist_ok=True)
    bootstrap = f"127.0.0.1:{kafka_port}"
    os.environ["MSB_BOOTSTRAP"] = bootstrap  # the notebooks' kernels find Kafka here
    token = secrets.token_hex(16)
    root = ["--allow-root"] if os.getuid() == 0 else []  # containers and CI machines run as root

    components: list[Stage] = []
    code = 0
    try:
        broker = start(components, "the broker", ["broker", "--port", str(kafka_port)], out / "broker.log")
        wait_listening(kafka_port, broker, KAFKA_START_TIMEOUT, signals)
        start(components, "the replay", ["replay", "--data", str(data), "--topic", "raw", "--forever",
                                         "--visit-interval", visit_interval, "--metrics-port", "0"], out / "replay.log")
        jupyter = start(components, "JupyterLab", [], out / "jupyter.log", program=[
            str(venv_bin / "jupyter"), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(lab_port),
            "--ServerApp.port_retries=0", *root, f"--IdentityProvider.token={token}",
            "--ServerApp.root_dir=bootcamp",
            "--KernelManager.shutdown_wait_time=2"])  # a busy kernel is killed in 2 s, inside our grace
        wait_listening(lab_port, jupyter, LAB_START_TIMEOUT, signals)
        print(f"""
  msb bootcamp
    Kafka       {bootstrap} (embedded tansu broker; log {out}/broker.log)
    replay      {data} -> topic raw, one visit every {visit_interval} s, looping (log {out}/replay.log)
    JupyterLab  http://127.0.0.1:{lab_port}/lab?token={token}
                (kernel: {venv_bin}/python; log {out}/jupyter.log)

  Open the URL and play 01_alert_system.ipynb to 05_lsst_alerts.ipynb in order. Ctrl-C stops everything.
""", flush=True)
        while True:
            signals.check()
            for c in components:
                if c.ended():
                    raise RuntimeError(f"{c.name} ended ({c.ended()}); see {c.log}:\n{c.tail(5)}")
            time.sleep(0.2)
    except StopRequested:
        print(f"\nmake lab: {signal.Signals(signals.received).name}, stopping everything ...", file=sys.stderr,
              flush=True)
    except RuntimeError as exc:
        print(f"make lab: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        killed = stop_all(components, signals)
        if killed:
            print(f"make lab: killed what SIGTERM left: {'; '.join(killed)}", file=sys.stderr, flush=True)
    print("make lab: stopped", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
