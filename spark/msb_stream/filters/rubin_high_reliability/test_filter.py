from msb_stream.filters import BUILTIN_DIR, load
from msb_stream.filters.testing import frame, real_frame

keep = load(BUILTIN_DIR / "rubin_high_reliability" / "filter.py")


def test_real_rubin_alerts() -> None:
    df = real_frame("rubin")
    assert int(keep(df).sum()) == int((df["reliability"] >= 0.9).sum()) == 12


def test_ztf_never_passes() -> None:
    assert not keep(real_frame("ztf")).any()
    assert keep(frame([{"survey": "rubin", "reliability": 0.95}, {"survey": "ztf", "rb": 0.99}])).tolist() == [
        True, False]
