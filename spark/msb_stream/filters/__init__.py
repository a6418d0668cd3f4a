"""User filters as plug-ins, Fink style: one folder per filter, discovered by scanning.

A filter is a folder ``<name>/`` holding

* ``filter.py`` with one function ``keep(alerts: pandas.DataFrame) -> pandas.Series`` returning a
  boolean mask over the rows. ``alerts`` holds the alerts of a batch that passed the quality cut,
  with the flat columns of ``msb_stream.decode`` (ZTF candidate fields, Rubin fields, ``prv`` as a
  list of structs): numbers as numpy columns (NaN where null), text, booleans and lists as
  Arrow-backed columns (``pd.ArrowDtype``: no Python object per alert; a list column is read with
  pyarrow.compute, e.g. ``pa.array(alerts["prv"])``). Values are null where a survey lacks a field.
  Beside it, ``COLUMNS = {"ztf": (...), "rubin": (...)}``: the columns ``keep`` reads on each
  survey's alerts (a survey left out is one it does not select from). The stream checks them at
  start-up against the columns each survey fills (``msb_stream.decode.survey_columns``) and names
  a filter that asks for a column its survey lacks. The built-in filters all declare them; a user's
  filter without ``COLUMNS`` is run unchecked.
* ``README.md``: what it selects and why (its first paragraph is the description);
* ``test_filter.py``: its test (pytest collects ``spark/msb_stream/filters``).

Each filter's alerts go to their own topics: ``<prefix>fink_<name>_ztf`` and ``_lsst`` in Fink's
Livestream convention (``<prefix>filter-<name>`` with ``--distribution container``). Files are loaded by path
(importlib), so ``--filters-dir`` can point at a user's own folder; executors receive the
source text, so the folder need not exist on them.
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from msb.alert import Survey
from msb_stream.decode import survey_columns

BUILTIN_DIR = Path(__file__).resolve().parent
FilterFn = Callable[[pd.DataFrame], pd.Series]


def discover(dirs: list[Path] | None = None) -> dict[str, Path]:
    """name -> filter.py for every ``<dir>/<name>/filter.py`` (later dirs override earlier)."""
    found: dict[str, Path] = {}
    for d in dirs or [BUILTIN_DIR]:
        if not d.is_dir():
            raise FileNotFoundError(f"filters folder {d} does not exist")
        for path in sorted(d.glob("*/filter.py")):
            found[path.parent.name] = path
    return found


def load(path: Path) -> FilterFn:
    """The ``keep`` function of one filter.py, imported by file path; its COLUMNS checked."""
    spec = importlib.util.spec_from_file_location(f"msb_filter_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load filter {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, "keep", None)
    if not callable(fn):
        raise ImportError(f"filter {path} has no function keep(alerts) -> mask")
    check_columns(path.parent.name, getattr(module, "COLUMNS", None))
    return fn


def check_columns(name: str, columns: object) -> None:
    """Raises ValueError naming the filter, the survey and the column it asks for that the survey's
    alerts lack (or a malformed COLUMNS); None (not declared) passes."""
    if columns is None:
        return
    if not isinstance(columns, dict):
        raise ValueError(f"filter {name}: COLUMNS must map a survey ({', '.join(Survey)}) to the columns it reads")
    for survey, cols in columns.items():
        if survey not in set(Survey):
            raise ValueError(f"filter {name}: unknown survey {survey!r} in COLUMNS (known: {', '.join(Survey)})")
        filled = survey_columns(Survey(survey))
        lacking = [c for c in cols if c not in filled]
        if lacking:
            raise ValueError(f"filter {name} reads column(s) {', '.join(lacking)}, which {survey} alerts lack")


def description(path: Path) -> str:
    readme = path.parent / "README.md"
    if not readme.is_file():
        return ""
    paras = [p.strip() for p in readme.read_text().split("\n\n") if p.strip() and not p.startswith("#")]
    return " ".join(paras[0].split()) if paras else ""


def select(names: list[str] | None, dirs: list[Path] | None = None) -> dict[str, tuple[str, str]]:
    """name -> (path, source) of the chosen filters (all discovered ones if names is None)."""
    found = discover(dirs)
    if names is not None:
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(f"unknown filter(s) {', '.join(missing)}; available: {', '.join(found)}")
        found = {n: found[n] for n in names}
    for path in found.values():
        load(path)  # fail fast, in the driver, on a broken filter
    return {n: (str(p), p.read_text()) for n, p in found.items()}


def _modules(shipped: dict[str, tuple[str, str]]) -> dict[str, types.ModuleType]:
    out: dict[str, types.ModuleType] = {}
    for name, (path, source) in shipped.items():
        module = types.ModuleType(f"msb_filter_{name}")
        module.__file__ = path
        exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - the user's own filter code
        out[name] = module
    return out


def compile_filters(shipped: dict[str, tuple[str, str]]) -> dict[str, FilterFn]:
    """Filter functions from shipped (path, source) pairs; used on executors."""
    return {name: module.keep for name, module in _modules(shipped).items()}


def declared_columns(shipped: dict[str, tuple[str, str]]) -> frozenset[str] | None:
    """The columns the filters read (their COLUMNS, every survey's, plus ``survey``): all a filter's
    frame needs to hold. None where a filter declares none (it gets every column)."""
    cols = {"survey"}
    for module in _modules(shipped).values():
        declared = getattr(module, "COLUMNS", None)
        if declared is None:
            return None
        cols.update(c for survey_cols in declared.values() for c in survey_cols)
    return frozenset(cols)
