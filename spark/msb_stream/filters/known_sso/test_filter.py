from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import frame, real_frame

keep = load(BUILTIN_DIR / "known_sso" / "filter.py")


def test_real_night_has_145_alerts_near_known_asteroids() -> None:
    assert int(keep(real_frame("ztf")).sum()) == 145


def test_edges() -> None:
    rows = [{"survey": "ztf", "ssdistnr": d} for d in (-999.0, 0.0, 4.99, 5.0, None)]
    rows.append({"survey": "rubin", "ssObjectId": 12345})
    assert keep(frame(rows)).tolist() == [False, True, True, False, False, True]


def test_rubin_sso_alerts() -> None:
    rubin = real_frame("rubin")
    assert int(keep(rubin).sum()) == int((rubin["ssObjectId"].fillna(0) > 0).sum()) > 0
