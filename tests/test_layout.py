"""The repository's layout: every module is found where its import path says, and the dependencies point
one way. The core (msb) imports no component; each component (msb_replay, msb_stream, msb_crossmatch)
imports the core and itself only; the app (msb_app) composes them all and nothing imports it.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = "msb"
COMPONENTS = ("msb_replay", "msb_stream", "msb_crossmatch")
APP = "msb_app"
# package -> the msb packages its modules may import
ALLOWED = {CORE: {CORE}, **{c: {CORE, c} for c in COMPONENTS}, APP: {CORE, *COMPONENTS, APP}}


def _pyprojects() -> dict[Path, dict]:
    """Every distribution of the repository: its folder -> its pyproject.toml."""
    found = [p for p in ROOT.rglob("pyproject.toml") if not ({".venv", "node_modules", "build"} & set(p.parts))]
    return {p.parent: tomllib.loads(p.read_text()) for p in sorted(found)}


DISTRIBUTIONS = _pyprojects()
# top-level package -> its folder, from the distributions' own package lists
PACKAGES = {pkg: folder / pkg for folder, conf in DISTRIBUTIONS.items()
            for pkg in conf["tool"]["setuptools"]["packages"] if "." not in pkg}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg, folder in PACKAGES.items() for path in sorted(folder.rglob("*.py"))]


def test_one_distribution_per_package_and_every_package_of_the_tree_is_one() -> None:
    assert set(PACKAGES) == set(ALLOWED)
    assert {folder.relative_to(ROOT).as_posix() for folder in DISTRIBUTIONS} == {
        ".", "services/replay", "services/crossmatch", "spark", "app"}


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS), ids=lambda f: f.relative_to(ROOT).as_posix() or ".")
def test_every_package_is_found_where_its_import_path_says(folder: Path) -> None:
    """No package-dir remapping: package a.b lives in <distribution folder>/a/b, and that is what imports."""
    setuptools = DISTRIBUTIONS[folder]["tool"]["setuptools"]
    assert "package-dir" not in setuptools
    for pkg in setuptools["packages"]:
        init = folder.joinpath(*pkg.split(".")) / "__init__.py"
        assert init.is_file(), f"{pkg}: no {init.relative_to(ROOT)}"
        assert Path(importlib.util.find_spec(pkg).origin) == init, pkg


@pytest.mark.parametrize("package,module", _modules(), ids=lambda v: v.relative_to(ROOT).as_posix()
                         if isinstance(v, Path) else v)
def test_dependency_direction(package: str, module: Path) -> None:
    """The core imports no component; a component imports the core and itself, never another component."""
    msb = {name for name in _imports(module) if name.split(".")[0] in ALLOWED}
    bad = sorted(name for name in msb if name.split(".")[0] not in ALLOWED[package])
    assert not bad, f"{module.relative_to(ROOT)} ({package}) imports {bad}"


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0] for r in reqs}


def test_the_distributions_depend_as_their_code_imports() -> None:
    """Each component's distribution depends on the core at the repository's version and on no other
    component; the app's on the core and every component."""
    version = DISTRIBUTIONS[ROOT]["project"]["version"]
    names = {pkg: DISTRIBUTIONS[PACKAGES[pkg].parent]["project"]["name"] for pkg in PACKAGES}
    for pkg in (*COMPONENTS, APP):
        project = DISTRIBUTIONS[PACKAGES[pkg].parent]["project"]
        msb = {r for r in project["dependencies"] if re.match(r"msb\b", r)}
        assert {re.sub(r"\[.*\]", "", r) for r in msb} == {f"{names[p]}=={version}" for p in ALLOWED[pkg] - {pkg}}, pkg
        assert project["version"] == version
        for ep in project["entry-points"]["msb.commands"].values():
            assert ep.split(".")[0] == pkg, (pkg, ep)  # each declares its own commands only


def test_make_install_installs_every_distribution() -> None:
    """The Makefile's stamp depends on every pyproject.toml, and its one pip call installs each, editable."""
    text = (ROOT / "Makefile").read_text()
    listed = re.search(r"^PYPROJECTS := (.+)$", text, re.M).group(1).split()
    folders = [f.relative_to(ROOT).as_posix() or "." for f in DISTRIBUTIONS]
    assert sorted(listed) == sorted(f"{f}/pyproject.toml".removeprefix("./") for f in folders)
    install = next(line for line in text.splitlines() if "-m pip install -e" in line)
    targets = {t.strip("'").split("[")[0] for t in re.findall(r"-e (\S+)", install)}
    assert targets == set(folders)
