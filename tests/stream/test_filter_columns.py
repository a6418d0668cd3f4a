"""Filters declare the columns they read; the stream checks them at start-up and names the filter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from msb.alert import Survey
from msb_stream.decode import survey_columns
from msb_stream.filters import discover, load, select


def _filter(folder: Path, name: str, columns: str) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / name / "filter.py").write_text(
        f"import pandas as pd\nCOLUMNS = {columns}\n\n\n"
        "def keep(alerts: pd.DataFrame) -> pd.Series:\n    return alerts['candid'].notna()\n")
    return folder


@pytest.mark.parametrize("name,path", sorted(discover().items()))
def test_every_builtin_filter_declares_columns_its_surveys_fill(name: str, path: Path) -> None:
    load(path)  # checks COLUMNS
    module = {}
    exec(compile(path.read_text(), str(path), "exec"), module)  # noqa: S102 - our own filter
    assert module["COLUMNS"], name
    for survey, cols in module["COLUMNS"].items():
        assert set(cols) <= survey_columns(Survey(survey)), name


def test_survey_columns_are_what_the_rows_hold() -> None:
    assert {"ssdistnr", "jdstarthist", "sgscore1"} <= survey_columns(Survey.ZTF)
    assert {"ssObjectId", "reliability", "visit"} <= survey_columns(Survey.RUBIN)
    assert not {"ssdistnr", "jdstarthist", "sgscore1"} & survey_columns(Survey.RUBIN)


def test_a_filter_asking_for_a_column_its_survey_lacks_is_named(tmp_path: Path) -> None:
    _filter(tmp_path, "rubin_asteroids", '{"rubin": ("ssdistnr",)}')
    with pytest.raises(ValueError, match="filter rubin_asteroids reads column.s. ssdistnr, which rubin alerts lack"):
        select(None, [tmp_path])
    _filter(tmp_path, "typo", '{"lsst": ("candid",)}')
    with pytest.raises(ValueError, match="typo: unknown survey 'lsst'"):
        select(["typo"], [tmp_path])


def test_msb_stream_refuses_it_at_start_up(tmp_path: Path) -> None:
    _filter(tmp_path / "filters", "rubin_asteroids", '{"rubin": ("ssdistnr",)}')
    res = subprocess.run(
        [sys.executable, "-m", "msb.cli", "stream", "--topic", "raw", "--archive", str(tmp_path / "a"),
         "--checkpoint", str(tmp_path / "c"), "--filters-dir", str(tmp_path / "filters"),
         "--bootstrap", "127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "filter rubin_asteroids reads column(s) ssdistnr, which rubin alerts lack" in res.stderr
    assert not (tmp_path / "c").exists()
