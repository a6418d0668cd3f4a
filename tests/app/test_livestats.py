"""The live dashboard's figures, from a real /metrics endpoint, and the per-visit latency summary."""

from __future__ import annotations

import io

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from msb.broker import free_port
from msb.metrics import LATENCY_BUCKETS, serve
from msb_app.dashboard import Dashboard
from msb_app.livestats import LATENCY, Scraper, quantile, scrape, total
from msb_app.runsummary import Outcome, VisitLatency, latency_lines, visit_latencies


def _crossmatch_endpoint() -> str:
    r = CollectorRegistry()
    classified = Counter("msb_crossmatch_alerts_classified", "", registry=r)
    classes = Counter("msb_crossmatch_classifications", "", ["classification"], registry=r)
    lag = Gauge("msb_crossmatch_consumer_lag_messages", "", ["partition"], registry=r)
    latency = Histogram(LATENCY, "", buckets=LATENCY_BUCKETS, registry=r)
    for x in [0.3] * 50 + [2.0] * 49 + [20.0]:
        latency.observe(x)
    classified.inc(100)
    classes.labels("Star").inc(70)
    classes.labels("RRLyrae").inc(30)
    lag.labels("0").set(3)
    lag.labels("1").set(4)
    return f"http://127.0.0.1:{serve(r, 0, '127.0.0.1')}/metrics"


def test_figures_from_a_real_endpoint() -> None:
    url = _crossmatch_endpoint()
    samples = scrape(url)
    assert total(samples, "msb_crossmatch_consumer_lag_messages") == 7
    assert total(samples, "msb_crossmatch_classifications_total", classification="Star") == 70
    p50, p99 = quantile(samples, LATENCY, 0.5), quantile(samples, LATENCY, 0.99)
    assert p50 is not None and 0.25 <= p50 <= 0.5  # inside the bucket holding the median
    assert p99 is not None and 1.0 <= p99 <= 2.5
    assert scrape(f"http://127.0.0.1:{free_port()}/metrics") is None  # a stage not up yet

    scraper = Scraper({"crossmatch": url})
    scraper.poll()
    v = scraper.view(12.0, {"crossmatch": "running"})
    assert v.mix == {"Star": 70, "RRLyrae": 30} and v.stages[0].lag == 7 and v.stages[0].alerts_out == 100
    out = io.StringIO()  # not a terminal: plain lines
    with Dashboard(out=out, every=0) as dash:
        dash.update(v)
    text = out.getvalue()
    assert "crossmatch running in 100 out 100" in text and "lag 7" in text and "Star 70" in text
    # Kafka's committed offsets, when given, stand for the lag gauges
    assert scraper.view(13.0, {}, lags={"crossmatch": 12}).stages[0].lag == 12


def test_visits_are_runs_of_one_exposure_in_send_order() -> None:
    s = 1_000_000_000
    frame = pd.DataFrame({
        "candid": [1, 2, 3, 4, 5, 5],
        "jd": [10.0, 10.0, 11.0, 10.0, 10.0, 10.0],  # the night looped: jd 10 again is a new visit
        "msb_sent_ns": [0, 0, 1 * s, 2 * s, 2 * s, 2 * s],
        "classified_ns": [1 * s, 3 * s, 2 * s, 4 * s, 5 * s, 9 * s],  # candid 5 classified twice (redelivery)
    })
    visits = visit_latencies(frame)
    assert [(v.jd, v.alerts) for v in visits] == [(10.0, 2), (11.0, 1), (10.0, 2)]
    assert visits[0].max == 3.0 and visits[2].max == 3.0  # the first classification of candid 5 counts


def test_dashboard_latency_near_the_truth_at_broker_latencies() -> None:
    """End-to-end latencies of ~11 s (a make run night) read back within a bucket of the truth."""
    r = CollectorRegistry()
    latency = Histogram(LATENCY, "", buckets=LATENCY_BUCKETS, registry=r)
    for i in range(100):
        latency.observe(10.0 + i * 0.02)  # 10.0 .. 11.98 s, median ~11 s
    samples = scrape(f"http://127.0.0.1:{serve(r, 0, '127.0.0.1')}/metrics")
    p50 = quantile(samples, LATENCY, 0.5)
    assert p50 is not None and 10.0 <= p50 <= 12.5, p50


def test_latency_table_numbers_visits_by_position() -> None:
    """A looped night repeats its visits (same jd, maybe the same figures): each keeps its own number."""
    o = Outcome(visits=[VisitLatency(2458451.75, 10, 1.0, 2.0, 2.5)] * 20, latencies=[1.0, 2.0])
    numbers = [int(line.split()[0]) for line in latency_lines(o, show=12)[1:] if line.split()[0].isdigit()]
    assert numbers == [1, 2, 3, 4, 5, 6, 15, 16, 17, 18, 19, 20]
