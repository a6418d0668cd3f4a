from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import frame, real_frame

keep = load(BUILTIN_DIR / "is_transient" / "filter.py")
GOOD = {"isdiffpos": "t", "sgscore1": 0.1, "distpsnr1": 0.5, "ssdistnr": -999.0, "jd": 2458451.9,
        "prv": [{"jd": 2458451.8, "magpsf": 19.0}]}


def test_each_condition_rejects() -> None:
    rows = [
        GOOD,
        {**GOOD, "isdiffpos": "f"},
        {**GOOD, "sgscore1": 0.9},  # a PS1 star at 0.5"
        {**GOOD, "sgscore1": 0.9, "distpsnr1": 2.0},  # a star, but 2" away: kept
        {**GOOD, "ssdistnr": 1.0},  # known asteroid
        {**GOOD, "prv": [{"jd": 2458451.89, "magpsf": 19.0}]},  # only 14 min apart
        {**GOOD, "prv": [{"jd": 2458451.8, "magpsf": None}]},  # an upper limit is no detection
        {**GOOD, "prv": None},
    ]
    assert keep(frame(rows)).tolist() == [True, False, False, True, False, False, False, False]


def test_real_night() -> None:
    df = real_frame("ztf")
    n = int(keep(df).sum())
    assert 0 < n < int((df["isdiffpos"] == "t").sum())
