"""The core library never reaches into the application layer (msb/app) or a service: services and
commands build on the core, not the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MSB = Path(__file__).resolve().parents[2] / "msb"
CORE = sorted(p for p in MSB.glob("*.py") if p.name != "cli.py")  # cli.py is the entry point over all


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_core_imports_neither_app_nor_services(module: Path) -> None:
    bad = {n for n in _imports(module)
           if n.startswith(("msb_app", "msb_replay", "msb_stream", "msb_crossmatch"))}
    assert not bad, f"{module.name} imports {sorted(bad)}"
