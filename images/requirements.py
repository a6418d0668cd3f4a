"""Prints the requirements of msb extras, resolved, one per line: what an image installs first.

Run in a Dockerfile before the code is copied, so a code change does not reinstall the
dependencies:  python3 images/requirements.py pyproject.toml stream > /tmp/requirements.txt
Self-references such as ``msb[broker]`` are expanded; the core dependencies always come first.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SELF = re.compile(r"^msb\[(?P<extras>[^\]]+)\]$")


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()

    def add(extra: str) -> None:
        if extra in seen:
            return
        if extra not in optional:
            raise SystemExit(f"{pyproject}: no extra named {extra!r} (extras: {', '.join(sorted(optional))})")
        seen.add(extra)
        for req in optional[extra]:
            m = SELF.match(req.replace(" ", ""))
            if m:
                for e in m["extras"].split(","):
                    add(e)
            elif req not in out:
                out.append(req)

    for extra in extras:
        add(extra)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: requirements.py PYPROJECT [EXTRA...]")
    print("\n".join(requirements(Path(sys.argv[1]), sys.argv[2:])))
