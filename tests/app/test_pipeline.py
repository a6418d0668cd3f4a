"""`msb run`: the whole local pipeline on the real ZTF night, as `make run` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from msb.alert import summary
from msb.avro import AlertDecoder
from tests.expected import fink_candids


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog store for the module: msb run builds it once, then reuses it."""
    return tmp_path_factory.mktemp("catalogs")


def _msb_run(data: Path, out: Path, catalogs: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msb.cli", "run", "--data", str(data), "--out", str(out),
                           "--catalogs", str(catalogs), *options], capture_output=True, text=True, timeout=600)


def test_msb_run_classifies_every_alert_that_passes_the_cut(ztf_night: Path, tmp_path: Path, catalogs: Path) -> None:
    out = tmp_path / "out"
    res = _msb_run(ztf_night, out, catalogs)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    expected = fink_candids(ztf_night)
    assert len(expected) == 291
    table = pq.read_table(out / "classified").to_pandas()
    assert set(table["candid"]) == expected and len(table) == 291  # each once
    assert table["classification"].notna().all()
    assert {"objectId", "xm_vsx", "xm_vsx_sep", "xm_gaia"} <= set(table.columns)
    # The summary names every stage and its counts.
    for text in ("alerts delivered   498", "quality passed 291", "total", "OK"):
        assert text in res.stdout, text
    # The replay's own final figures (not a /metrics scrape taken before it finished): its three
    # exposures, every packet's bytes.
    night_mb = sum(p.stat().st_size for p in ztf_night.glob("*.avro")) / 1e6
    assert f"visits 3, {night_mb:.1f} MB\n" in res.stdout, res.stdout[-3000:]
    archive = pq.read_table(out / "archive").to_pandas()
    assert set(archive["candid"]) == expected
    # The embedded broker's memory (tansu applies no retention): on the dashboard and in the summary.
    assert "broker memory (embedded, at its peak): " in res.stdout and "(tansu " in res.stdout
    assert "| broker memory " in res.stderr, res.stderr[-3000:]


def test_msb_run_classifies_rubin_alerts(rubin_dir: Path, tmp_path: Path, catalogs: Path) -> None:
    """The same pipeline on Rubin alerts, without a quality cut: all 47 classified."""
    out = tmp_path / "out"
    res = _msb_run(rubin_dir, out, catalogs, "--quality", "none")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = pq.read_table(out / "classified").to_pandas()
    expected = {summary(AlertDecoder().decode(p.read_bytes()))["candid"] for p in rubin_dir.glob("*.avro")}
    assert set(table["candid"]) == expected


def test_duplicate_packets_still_complete(ztf_night: Path, tmp_path: Path, catalogs: Path) -> None:
    """The same candid in several packets (redelivery) is one alert: msb run reports it complete."""
    data = tmp_path / "dups"
    data.mkdir()
    originals = sorted(ztf_night.glob("*.avro"))[:60]
    for i, path in enumerate(originals):
        (data / path.name).write_bytes(path.read_bytes())
        if i % 3 == 0:  # 20 alerts delivered twice more
            for copy in ("a", "b"):
                (data / f"{path.stem}-{copy}.avro").write_bytes(path.read_bytes())
    out = tmp_path / "out"
    res = _msb_run(data, out, catalogs, "--quality", "none")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "INCOMPLETE" not in res.stdout
    table = pq.read_table(out / "classified").to_pandas()
    assert len(set(table["candid"])) == 60
