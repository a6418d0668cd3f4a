"""The HTTP API on a real socket: /xmatch answers, and each bad request gets a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from msb.crossmatch.api import MAX_POSITIONS, ApiServer, State, build_app
from msb.crossmatch.metrics import CrossmatchMetrics


@pytest.fixture(scope="module")
def api(xm) -> Iterator[str]:
    metrics = CrossmatchMetrics()
    metrics.catalogs_loaded(xm.catalogs)
    state = State()
    server = ApiServer(build_app(xm, metrics, state), "127.0.0.1", 0)
    port = server.start()
    url = f"http://127.0.0.1:{port}"
    assert requests.get(f"{url}/readyz", timeout=5).status_code == 503  # not ready until told
    state.ready = True
    yield url
    server.stop()


def test_xmatch_returns_matches_and_classification(api: str, xm) -> None:
    star = xm.catalogs["vsx"]._all.index  # a real VSX star, and a position 1" away from it
    ra, dec = float(star.ra[1000]), float(star.dec[1000])
    body = {"positions": [{"ra": ra, "dec": dec + 1 / 3600, "id": "x1"},
                          {"ra": 0.0, "dec": -89.9999, "ssdistnr": 0.8, "ndethist": 1}]}
    r = requests.post(f"{api}/xmatch", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out = r.json()
    first, second = out["results"]
    assert first["id"] == "x1" and first["matches"]["vsx"]["sep_arcsec"] == pytest.approx(1.0, abs=1e-3)
    assert first["classification"] not in ("Unknown", "Ambiguous") and "vsx_variable" in first["reason"]
    assert second["classification"] == "Solar System MPC" and second["matches"]["vsx"] is None
    r = requests.post(f"{api}/xmatch", json={"ra": [ra], "dec": [dec], "catalogs": ["vsx"], "radius": 3600,
                                             "all": True}, timeout=10)
    many = r.json()["results"][0]["matches"]["vsx"]
    assert r.status_code == 200 and len(many) > 1 and many[0]["sep_arcsec"] == 0.0
    assert [m["sep_arcsec"] for m in many] == sorted(m["sep_arcsec"] for m in many)


def test_catalogs_health_ready_and_metrics(api: str) -> None:
    cats = {c["name"]: c for c in requests.get(f"{api}/catalogs", timeout=5).json()["catalogs"]}
    assert cats["vsx"]["rows"] == 1_933_544 and cats["vsx"]["label_column"] == "VType"
    assert requests.get(f"{api}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{api}/readyz", timeout=5).status_code == 200
    text = requests.get(f"{api}/metrics", timeout=5).text
    assert 'msb_crossmatch_catalog_rows{catalog="vsx"} 1.933544e+06' in text
    assert "msb_crossmatch_catalog_load_seconds" in text


@pytest.mark.parametrize(("body", "status", "message"), [
    ("not json", 400, "body is not valid JSON"),
    ([1, 2], 400, "body must be a JSON object"),
    ({}, 400, "'positions' must be a non-empty list"),
    ({"positions": []}, 400, "'positions' must be a non-empty list"),
    ({"positions": [{"ra": "ten", "dec": 0}]}, 400, "positions[0].ra must be a number, got 'ten'"),
    ({"positions": [{"ra": 1, "dec": None}]}, 400, "positions[0].dec must be a number"),
    ({"positions": [{"ra": 1, "dec": True}]}, 400, "positions[0].dec must be a number"),
    ({"positions": [{"ra": 1}]}, 400, "positions[0] has no 'dec'"),
    ({"positions": [{"ra": 1, "dec": 0}, {"ra": 1, "dec": 90.5}]}, 400, "positions[1].dec = 90.5 is outside [-90, 90]"),
    ({"positions": [{"ra": 1, "dec": -91}]}, 400, "is outside [-90, 90]"),
    ({"positions": [{"ra": 1, "dec": 0}] * (MAX_POSITIONS + 1)}, 413, "too many positions: 10001 > 10000"),
    ({"positions": [{"ra": 1, "dec": 0}], "catalogs": ["vsx", "sdss"]}, 400, "unknown catalog(s) 'sdss'; known:"),
    ({"positions": [{"ra": 1, "dec": 0}], "radius": -1}, 400, "radius = -1 arcsec is outside"),
    ({"ra": [1, 2], "dec": [0]}, 400, "'ra' and 'dec' must be lists of the same length"),
])
def test_bad_requests_get_a_clear_4xx(api: str, body, status: int, message: str) -> None:
    kw = {"data": body} if isinstance(body, str) else {"json": body}
    r = requests.post(f"{api}/xmatch", timeout=10, **kw)
    assert r.status_code == status
    assert message in r.json()["error"]
