from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import frame, real_frame

keep = load(BUILTIN_DIR / "bright_new_transient" / "filter.py")
GOOD = {"isdiffpos": "t", "magpsf": 17.0, "jd": 2458451.9, "jdstarthist": 2458450.0, "sgscore1": 0.1,
        "distpsnr1": 3.0, "ssdistnr": -999.0}


def test_each_condition_rejects() -> None:
    rows = [GOOD, {**GOOD, "magpsf": 19.0}, {**GOOD, "jdstarthist": 2458440.0}, {**GOOD, "isdiffpos": "f"},
            {**GOOD, "sgscore1": 0.99, "distpsnr1": 0.2}, {**GOOD, "ssdistnr": 2.0}, {**GOOD, "magpsf": None}]
    assert keep(frame(rows)).tolist() == [True, False, False, False, False, False, False]


def test_real_night_subset_of_bright() -> None:
    df = real_frame("ztf")
    mask = keep(df)
    assert (df.loc[mask, "magpsf"] < 18.5).all()
