"""Prints the third-party requirements of the msb distributions an image installs, one per line: what
the image installs first.

Run in a Dockerfile before the code is copied, so a code change does not reinstall the dependencies:

    python3 images/requirements.py 'pyproject.toml[broker]' services/replay/pyproject.toml > requirements.txt

Each argument is the pyproject.toml of a distribution the image installs from its source (the core
first), with extras in brackets if any. A requirement on one of them (``msb==0.1.0``, ``msb[broker]``) is
not printed, since the image installs it from source (PyPI's ``msb`` is another project), but the extras
it names are resolved. A requirement on any other msb distribution is an error: an image holds the core
and its own component only.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ARGUMENT = re.compile(r"^(?P<path>[^\[\]]+?)(?:\[(?P<extras>[^\]]*)\])?$")
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _extras(text: str | None) -> list[str]:
    return [e.strip() for e in (text or "").split(",") if e.strip()]


def requirements(distributions: list[tuple[Path, list[str]]]) -> list[str]:
    """The requirements of ``distributions`` (pyproject.toml, extras), in order, without the msb ones."""
    projects: dict[str, dict] = {}
    for path, _ in distributions:
        project = tomllib.loads(path.read_text())["project"]
        projects[_name(project["name"])] = project
    out: list[str] = []
    seen: set[tuple[str, str | None]] = set()

    def add(name: str, extra: str | None = None) -> None:
        if (name, extra) in seen:
            return
        seen.add((name, extra))
        project = projects[name]
        if extra is None:
            reqs = project.get("dependencies", [])
        else:
            optional = project.get("optional-dependencies", {})
            if extra not in optional:
                raise SystemExit(f"{project['name']}: no extra named {extra!r} (extras: {', '.join(sorted(optional))})")
            reqs = optional[extra]
        for req in reqs:
            m = REQUIREMENT.match(req)
            if m is None:
                raise SystemExit(f"{project['name']}: cannot read the requirement {req!r}")
            dep = _name(m["name"])
            if dep in projects:
                add(dep)
                for e in _extras(m["extras"]):
                    add(dep, e)
            elif dep == "msb" or dep.startswith("msb-"):
                raise SystemExit(f"{project['name']} needs {dep}, which this image does not install from source: "
                                 "an image holds the core and its own component only")
            elif req not in out:
                out.append(req)

    for path, extras in distributions:
        name = _name(tomllib.loads(path.read_text())["project"]["name"])
        add(name)
        for extra in extras:
            add(name, extra)
    return out


def parse(argument: str) -> tuple[Path, list[str]]:
    m = ARGUMENT.match(argument)
    if m is None:
        raise SystemExit(f"not PYPROJECT or PYPROJECT[EXTRA,...]: {argument!r}")
    return Path(m["path"]), _extras(m["extras"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: requirements.py PYPROJECT[EXTRA,...] [PYPROJECT[EXTRA,...]...]")
    print("\n".join(requirements([parse(a) for a in sys.argv[1:]])))
