"""Helpers for replay tests: run the real CLI, read a topic back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from msb.consume import Received, read_topic


def msb(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the real ``msb`` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "msb.cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def read_all(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[Received]:
    return list(read_topic(bootstrap, topic, idle_s=idle_s))


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.avro"))
