"""Every component's /metrics, scraped for real, follows ``msb_<component>_<thing>[_<unit>]``."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from msb.metrics import UNITS, MetricFactory, serve


def _replay() -> CollectorRegistry:
    from msb_replay.metrics import ReplayMetrics

    return ReplayMetrics().registry


def _stream() -> CollectorRegistry:
    from msb_stream.metrics import StreamMetrics

    return StreamMetrics().registry


def _crossmatch() -> CollectorRegistry:
    from msb_crossmatch.metrics import CrossmatchMetrics

    return CrossmatchMetrics().registry


def _scrape(registry: CollectorRegistry) -> str:
    port = serve(registry, 0, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.mark.parametrize("component,registry", [("replay", _replay), ("stream", _stream),
                                                ("crossmatch", _crossmatch)])
def test_every_metric_name_follows_the_convention(component: str, registry: Callable[[], CollectorRegistry]) -> None:
    thing = r"[a-z][a-z0-9]*(_[a-z0-9]+)*"
    families = list(text_string_to_metric_families(_scrape(registry())))
    assert families
    for fam in families:
        if fam.name.endswith("_created"):  # the client's creation timestamps of counters and histograms
            continue
        assert re.fullmatch(f"msb_{component}_{thing}", fam.name), fam.name
        assert not fam.name.endswith("_total"), f"{fam.name}: _total written by hand"
        if fam.type == "counter":
            assert all(s.name in (f"{fam.name}_total", f"{fam.name}_created") for s in fam.samples), fam.name
        if fam.type == "histogram":
            assert fam.name.endswith(tuple(f"_{u}" for u in UNITS)), f"{fam.name}: a histogram needs its unit"


def test_the_factory_refuses_a_hand_written_total_and_unknown_units() -> None:
    m = MetricFactory("replay")
    with pytest.raises(ValueError, match="_total"):
        m.counter("alerts_sent_total", "doc")
    with pytest.raises(ValueError, match="unit"):
        m.gauge("lag", "doc", unit="furlongs")
    with pytest.raises(ValueError, match="component"):
        MetricFactory("frobnicator")
