"""Builds the bootcamp notebooks (``NN_*.ipynb``) from their readable sources (``src/NN_*.py``).

A source is plain Python split into cells by ``# %%`` lines (the "percent" format that editors
and jupytext understand):

* ``# %% [markdown]`` starts a Markdown cell; its lines are comments (``# `` is stripped);
* ``# %%`` starts a code cell;
* ``# %% solution`` starts a code cell whose input is collapsed in JupyterLab (the exercises'
  solutions: click to reveal).

The notebooks are committed without outputs or execution counts; ``make notebooks`` executes
them into ``out/bootcamp``. ``python bootcamp/build.py`` rewrites them, ``--check`` only reports
the ones that differ from their source (the tests run it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def cells(text: str) -> list[nbformat.NotebookNode]:
    """The cells of one percent-format source."""
    out: list[nbformat.NotebookNode] = []
    kind, lines = None, []

    def flush() -> None:
        body = "\n".join(lines).strip("\n")
        if kind is None or not body:
            return
        if kind == "markdown":
            md = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
            out.append(nbformat.v4.new_markdown_cell(md))
            return
        cell = nbformat.v4.new_code_cell(body)
        if kind == "solution":
            cell.metadata["jupyter"] = {"source_hidden": True}
            cell.metadata["tags"] = ["solution"]
        out.append(cell)

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            rest = line[4:].strip()
            kind, lines = {"[markdown]": "markdown", "solution": "solution", "": "code"}[rest], []
        elif kind is not None:
            lines.append(line)
    flush()
    for i, cell in enumerate(out):  # stable ids: rebuilding an unchanged source changes nothing
        cell["id"] = f"cell-{i:03d}"
    return out


def notebook(source: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells(source.read_text())
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def target(source: Path) -> Path:
    return HERE / f"{source.stem}.ipynb"


def render(source: Path) -> str:
    return nbformat.writes(notebook(source)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report notebooks that differ from their source")
    args = ap.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        path, text = target(source), render(source)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        elif not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(f"out of date with bootcamp/src (run python bootcamp/build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
