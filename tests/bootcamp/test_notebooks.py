"""The bootcamp notebooks: committed clean (no outputs), in step with their sources, and each one
executed top to bottom on a real kernel of this venv (their own asserts make a failure real)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from msb import paths
from msb.broker import EmbeddedBroker

BOOTCAMP = paths.REPO_ROOT / "bootcamp"
NOTEBOOKS = sorted(BOOTCAMP.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 300  # one cell
LAB_BROKER_NOTEBOOK = "04"  # this one runs on a broker of the test's, named by MSB_BOOTSTRAP
NOTEBOOK_LIMIT = 360  # a notebook takes under 3 minutes on an idle 2-core machine; twice that on a loaded one


def test_five_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"], NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts"
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in nb.cells)
    assert any("solution" in c.metadata.get("tags", []) for c in nb.cells), "exercises need solutions"


def test_notebooks_match_their_sources() -> None:
    sys.path.insert(0, str(BOOTCAMP))
    try:
        import build
    finally:
        sys.path.remove(str(BOOTCAMP))
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MSB_DATA", raising=False)
    monkeypatch.delenv("MSB_RUBIN_DATA", raising=False)
    with contextlib.ExitStack() as stack:
        if path.name.startswith(LAB_BROKER_NOTEBOOK):  # as under `make lab`: the broker named by MSB_BOOTSTRAP
            lab_broker = stack.enter_context(EmbeddedBroker(log=tmp_path / "broker.log"))
            monkeypatch.setenv("MSB_BOOTSTRAP", lab_broker.bootstrap)
        else:  # as when a notebook is opened on its own: it starts an embedded broker itself
            monkeypatch.delenv("MSB_BOOTSTRAP", raising=False)
        run_notebook(path)


def run_notebook(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    nb.cells.insert(0, probe)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(BOOTCAMP)}})
    t0 = time.monotonic()
    client.execute()
    seconds = time.monotonic() - t0
    kernel_python = nb.cells[0].outputs[0]["text"].strip()
    assert Path(kernel_python).parent == Path(sys.executable).parent, kernel_python  # the venv's python
    assert seconds < NOTEBOOK_LIMIT, f"{path.name} took {seconds:.0f} s"
    if "MSB_BOOTSTRAP" in os.environ:
        said = "".join(o.get("text", "") for c in nb.cells[1:3] for o in c.get("outputs", []))
        assert f"at {os.environ['MSB_BOOTSTRAP']}" in said, said
