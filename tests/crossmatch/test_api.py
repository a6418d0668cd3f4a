"""The HTTP API on a real socket: /crossmatch answers (and /xmatch, its former name, deprecated), and each
bad request gets a clear 4xx."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from msb_crossmatch.api import MAX_POSITIONS, ApiServer, State, build_app
from msb_crossmatch.metrics import CrossmatchMetrics


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


def test_crossmatch_returns_matches_and_classification(api: str, xm) -> None:
    star = xm.catalogs["vsx"]._all.index  # a real VSX star, and a position 1" away from it
    ra, dec = float(star.ra[1000]), float(star.dec[1000])
    body = {"positions": [{"ra": ra, "dec": dec + 1 / 3600, "id": "x1"},
                          {"ra": 0.0, "dec": -89.9999, "ssdistnr": 0.8, "ndethist": 1}]}
    r = requests.post(f"{api}/crossmatch", json=body, timeout=10)
    assert r.status_code == 200, r.text
    out = r.json()
    first, second = out["results"]
    assert first["id"] == "x1" and first["matches"]["vsx"]["sep_arcsec"] == pytest.approx(1.0, abs=1e-3)
    assert first["classification"] not in ("Unknown", "Ambiguous") and "vsx_variable" in first["reason"]
    assert second["classification"] == "Solar System MPC" and second["matches"]["vsx"] is None
    r = requests.post(f"{api}/crossmatch", json={"ra": [ra], "dec": [dec], "catalogs": ["vsx"], "radius": 3600,
                                             "all": True}, timeout=10)
    many = r.json()["results"][0]["matches"]["vsx"]
    assert r.status_code == 200 and len(many) > 1 and many[0]["sep_arcsec"] == 0.0
    assert [m["sep_arcsec"] for m in many] == sorted(m["sep_arcsec"] for m in many)


def test_former_xmatch_path_answers_the_same_and_says_it_is_deprecated(api: str, xm,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    star = xm.catalogs["vsx"]._all.index
    body = {"ra": [float(star.ra[7])], "dec": [float(star.dec[7])], "catalogs": ["vsx"]}
    with caplog.at_level(logging.WARNING, logger="msb.crossmatch.api"):
        old = requests.post(f"{api}/xmatch", json=body, timeout=10)
        bad = requests.post(f"{api}/xmatch", json={"ra": [1.0]}, timeout=10)
    new = requests.post(f"{api}/crossmatch", json=body, timeout=10)
    assert old.status_code == 200 and old.json() == new.json()
    assert old.headers["Deprecation"] == "true" and old.headers["Link"] == '</crossmatch>; rel="successor-version"'
    assert bad.status_code == 400 and bad.headers["Deprecation"] == "true"  # refusals say it too
    assert "Deprecation" not in new.headers
    notices = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert notices and notices[0].startswith("POST /xmatch is deprecated, use /crossmatch")
    assert len(notices) == 1  # at most one line a minute, however many requests


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
    # every number that cannot be a coordinate, a radius or evidence is a 400, never a 500
    ('{"positions": [{"ra": 1' + "0" * 399 + ', "dec": 0}]}', 400, "positions[0].ra = 100000...(400 digits) is out"),
    ('{"positions": [{"ra": 1, "dec": -1' + "0" * 399 + '}]}', 400, "positions[0].dec = -100000...(400 digits) is out"),
    ('{"positions": [{"ra": 1, "dec": 0, "ndethist": 1' + "0" * 399 + '}]}', 400, "positions[0].ndethist = 100000..."),
    ('{"positions": [{"ra": 1, "dec": 0}], "radius": 1' + "0" * 399 + "}", 400, "radius = 100000...(400 digits)"),
    ('{"positions": [{"ra": 1' + "0" * 5000 + ', "dec": 0}]}', 400, "an integer of 5,001 digits is out of range"),
    ('{"positions": [{"ra": NaN, "dec": 0}]}', 400, "NaN is not a JSON number"),
    ('{"positions": [{"ra": 1, "dec": -Infinity}]}', 400, "-Infinity is not a JSON number"),
    ('{"positions": [{"ra": 1e999, "dec": 0}]}', 400, "number 1e999 is out of range"),
    ('{"positions": [{"ra": 1, "dec": 0, "id": [Infinity]}]}', 400, "Infinity is not a JSON number"),
    ({"positions": [{"ra": 361, "dec": 0}]}, 400, "positions[0].ra = 361 is outside [-360, 360]"),
    ({"positions": [{"ra": -360.5, "dec": 0}]}, 400, "positions[0].ra = -360.5 is outside [-360, 360]"),
    ({"positions": [{"ra": 1, "dec": 90.000001}]}, 400, "positions[0].dec = 90 is outside [-90, 90]"),
    ({"positions": [{"ra": False, "dec": 0}]}, 400, "positions[0].ra must be a number, got False"),
    ({"positions": [{"ra": "1", "dec": 0}]}, 400, "positions[0].ra must be a number, got '1'"),
    ({"positions": [{"ra": 1, "dec": 0, "ssdistnr": True}]}, 400, "positions[0].ssdistnr must be a number"),
    ({"positions": [{"ra": 1, "dec": 0}], "radius": 0}, 400, "radius = 0 arcsec is outside (0, 3600]"),
    ({"positions": [{"ra": 1, "dec": 0}], "radius": 3600.5}, 400, "radius = 3600.5 arcsec is outside (0, 3600]"),
    ({"positions": [{"ra": 1, "dec": 0}], "radius": True}, 400, "radius must be a number, got True"),
    ({"positions": [{"ra": 1, "dec": 0}], "radius": "5"}, 400, "radius must be a number, got '5'"),
    ({"positions": [{"ra": 1, "dec": 0}], "all": 1}, 400, "'all' must be true or false"),
    ("[" * 100_000 + "]" * 100_000, 400, "body is not valid JSON: maximum recursion depth exceeded"),
    ("\xff\xfe{}", 400, "body is not valid JSON"),
])
def test_bad_requests_get_a_clear_4xx(api: str, body, status: int, message: str) -> None:
    kw = {"data": body.encode("latin-1")} if isinstance(body, str) else {"json": body}
    r = requests.post(f"{api}/crossmatch", timeout=10, **kw)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_compressed_bodies_are_refused(api: str) -> None:
    """A gzip body could inflate far past the body limit after it was checked: only plain JSON."""
    r = requests.post(f"{api}/crossmatch", data=b"\x1f\x8b", headers={"Content-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 415 and "send the JSON uncompressed" in r.json()["error"]
