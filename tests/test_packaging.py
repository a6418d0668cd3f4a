"""The built wheels of every distribution (the core and each component), installed as the images install
them (`pip install .`, not editable), work: every module imports, every subcommand answers `--help`,
every filter plug-in folder is shipped, and each wheel holds its own package only.

The editable `.venv` resolves packages from the source tree and hides what a wheel leaves out
(it once shipped no `msb/stream/filters/__init__.py`: `msb stream` died on `filters.select`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("broker", "replay", "consume", "topics", "stream", "catalog", "crossmatch", "run", "scale")
# distribution folder -> the top-level package its wheel holds
DISTRIBUTIONS = {".": "msb", "services/replay": "msb_replay", "services/crossmatch": "msb_crossmatch",
                 "spark": "msb_stream", "app": "msb_app"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """package -> its distribution's wheel."""
    out = tmp_path_factory.mktemp("wheel")
    for folder in DISTRIBUTIONS:  # setuptools builds in the source tree: a build killed midway leaves a bdist
        for stale in (ROOT / folder / "build").glob("bdist.*"):  # folder its next build refuses ("File exists")
            shutil.rmtree(stale)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                            *(str(ROOT / folder) for folder in DISTRIBUTIONS)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    return {pkg: next(out.glob(f"{pkg}-*.whl")) for pkg in DISTRIBUTIONS.values()}


@pytest.fixture(scope="module")
def wheel(wheels: dict[str, Path]) -> set[str]:
    """Every file the wheels hold."""
    return {name for path in wheels.values() for name in zipfile.ZipFile(path).namelist()}


@pytest.fixture(scope="module")
def fresh(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only the wheels; msb's dependencies come from the project venv's
    site-packages through a .pth line (the editable msb there is not loaded: .pth files inside a
    directory added that way are not processed)."""
    env = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=False).create(env)
    site = next(env.glob("lib/python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--no-deps",
                    "-q", *map(str, wheels.values())], check=True, capture_output=True, timeout=300)
    return env


def _run(env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(env / "bin" / "python"), *args], capture_output=True, text=True, timeout=120,
                          cwd=env)  # not the repo: nothing may come from the source tree


def test_the_wheels_ship_every_module_and_filter(wheel: set[str]) -> None:
    names = wheel
    assert {"msb_stream/filters/__init__.py", "msb_stream/filters/testing.py"} <= names
    for folder in (ROOT / "spark" / "msb_stream" / "filters").iterdir():
        if (folder / "filter.py").is_file():
            assert f"msb_stream/filters/{folder.name}/filter.py" in names, folder.name
            assert f"msb_stream/filters/{folder.name}/README.md" in names, folder.name
    assert {"msb/schemas/processed.avsc", "msb/schemas/classified.avsc", "msb_crossmatch/rules.yaml",
            "msb_stream/log4j2-local.properties"} <= names
    # The columnar decoder's compiled executor and the source it also runs as (pure_engine); not Cython's C.
    assert "msb/avro/_columns.py" in names and [n for n in names if n.startswith("msb/avro/_columns.cpython")]
    assert not [n for n in names if n.endswith(".c")], sorted(n for n in names if n.endswith(".c"))


def test_each_wheel_holds_its_own_package_only(wheels: dict[str, Path]) -> None:
    """An image installs the core's wheel and its component's: neither may carry another component."""
    for pkg, path in wheels.items():
        tops = {n.split("/")[0] for n in zipfile.ZipFile(path).namelist() if ".dist-info/" not in n}
        assert tops == {pkg}, (path.name, tops)


def test_every_module_imports_from_the_wheel(wheel: set[str], fresh: Path) -> None:
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in wheel
                     if n.endswith(".py") and not n.rsplit("/", 1)[-1].startswith("test_"))
    code = ("import importlib, sys\n"
            "for m in sys.argv[1:]:\n"
            "    mod = importlib.import_module(m)\n"
            "    assert mod.__file__.startswith(sys.prefix), (m, mod.__file__)  # the wheel's copy, not the tree's\n"
            "from msb_stream import filters\n"
            "print(sorted(filters.discover()))\n")
    res = _run(fresh, "-c", code, *modules)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "known_sso" in res.stdout and "rubin_high_reliability" in res.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_answers_help(fresh: Path, command: str) -> None:
    res = subprocess.run([str(fresh / "bin" / "msb"), command, "--help"], capture_output=True, text=True,
                         timeout=120, cwd=fresh)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"usage: msb {command}" in res.stdout
