"""Writes one benchmark's results into its own section of docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import platform
import re
from pathlib import Path

import psutil

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.machine()}, {psutil.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def record(section: str, title: str, command: str, body: str) -> None:
    """Replaces the ``<!-- bench:SECTION -->`` block of docs/benchmarks.md (appends it if new)."""
    start, end = f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->"
    block = (
        f"{start}\n## {title}\n\n"
        f"Command: `{command}`  \nMeasured: {dt.date.today().isoformat()} on {machine()}\n\n"
        f"{body.strip()}\n{end}"
    )
    header = "# Benchmarks\n\nEvery figure next to its baseline, measured in the same run (`make bench`).\n"
    text = DOC.read_text() if DOC.exists() else header
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(block)
