import numpy as np

from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import frame, real_frame

keep = load(BUILTIN_DIR / "ps1_point_source" / "filter.py")


def test_edges() -> None:
    rows = [{"sgscore1": s, "distpsnr1": d} for s, d in
            [(0.9, 0.5), (0.9, 1.0), (0.9, 1.2), (0.4, 0.5), (0.9, -999.0), (None, 0.5)]]
    assert keep(frame(rows)).tolist() == [True, True, False, False, False, False]


def test_real_night_matches_numpy() -> None:
    df = real_frame("ztf")
    sg, d = df["sgscore1"].to_numpy(float), df["distpsnr1"].to_numpy(float)
    expected = int(np.sum((sg > 0.5) & (d >= 0) & (d <= 1.0)))
    assert int(keep(df).sum()) == expected > 0
