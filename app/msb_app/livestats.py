"""What the live dashboard shows, read from each stage's own Prometheus ``/metrics``.

One :class:`Scraper` per run keeps the previous sample of every counter to turn counts into
rates; latency quantiles are estimated from histogram buckets as Prometheus'
``histogram_quantile`` does (linear within a bucket).
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from msb.broker_memory import BrokerMemory

Samples = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> [(labels, value)]


def scrape(url: str, timeout: float = 1.0) -> Samples | None:
    """Every sample at ``url``, or None if the endpoint does not answer (stage starting or gone)."""
    try:
        text = urllib.request.urlopen(url, timeout=timeout).read().decode()
    except OSError:
        return None
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name].append((dict(s.labels), float(s.value)))
    return out


def total(samples: Samples | None, name: str, **labels: str) -> float:
    """Sum of a sample over every label set matching ``labels``."""
    if not samples:
        return 0.0
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def by_label(samples: Samples | None, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for lab, v in (samples or {}).get(name, []):
        out[lab.get(label, "")] += v
    return dict(out)


def quantile(samples: Samples | None, histogram: str, q: float) -> float | None:
    """The q-quantile of a histogram's observations from its cumulative buckets; None if it has none."""
    buckets = sorted((float(lab["le"]), v) for lab, v in (samples or {}).get(f"{histogram}_bucket", []))
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_n) / (n - prev_n) if n > prev_n else 0.0)
        prev_le, prev_n = le, n
    return prev_le


@dataclass
class StageView:
    """One stage's line on the dashboard."""

    name: str
    state: str = "starting"
    alerts_in: float = 0.0
    alerts_out: float = 0.0
    rate: float = 0.0  # alerts out per second, over the last scrapes
    lag: float | None = None


@dataclass
class LiveView:
    elapsed: float = 0.0
    stages: list[StageView] = field(default_factory=list)
    latency_p50: float | None = None
    latency_p99: float | None = None
    mix: dict[str, float] = field(default_factory=dict)
    dead_letters: float = 0.0
    broker_memory: BrokerMemory | None = None  # the embedded broker's (None: another Kafka)
    memory_warn: float = 0.0  # the share of reachable memory above which the dashboard warns


# stage -> (metrics summed as alerts in, metric counted out, lag gauge) for the stages msb run watches.
# The stream's input is counted where its outputs are (foreachBatch: decoded + dead letters), not by
# Spark's progress listener, which reports a moment later.
STAGE_METRICS: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "replay": ((), "msb_replay_alerts_sent_total", None),
    "stream": (("msb_stream_processed_rows_total", "msb_stream_dead_letters_total"),
               "msb_stream_quality_passed_total", "msb_stream_partition_lag_messages"),
    "crossmatch": ((), "msb_crossmatch_alerts_classified_total", "msb_crossmatch_consumer_lag_messages"),
}
LATENCY = "msb_crossmatch_end_to_end_latency_seconds"  # replay send -> classified delivery


class Scraper:
    def __init__(self, urls: dict[str, str], window_s: float = 5.0) -> None:
        self.urls = urls
        self.window = window_s
        self.last: dict[str, Samples | None] = {}
        self.seen: dict[str, Samples] = {}  # each stage's last answer, kept after it stopped
        self._history: dict[str, list[tuple[float, float]]] = defaultdict(list)  # stage -> [(t, out)]

    def poll(self) -> dict[str, Samples | None]:
        now = time.monotonic()
        for stage, url in self.urls.items():
            self.last[stage] = scrape(url)
            if self.last[stage] is not None:
                self.seen[stage] = self.last[stage]  # type: ignore[assignment]
            out_metric = STAGE_METRICS[stage][1] if stage in STAGE_METRICS else None
            if out_metric and self.last[stage] is not None:
                hist = self._history[stage]
                hist.append((now, total(self.last[stage], out_metric)))
                while len(hist) > 2 and now - hist[0][0] > self.window:
                    hist.pop(0)
        return self.last

    def rate(self, stage: str) -> float:
        hist = self._history.get(stage, [])
        if len(hist) < 2 or hist[-1][0] <= hist[0][0]:
            return 0.0
        return max(hist[-1][1] - hist[0][1], 0.0) / (hist[-1][0] - hist[0][0])

    def view(self, elapsed: float, states: dict[str, str], replayed: float | None = None,
             lags: dict[str, float] | None = None) -> LiveView:
        """The dashboard's figures; ``replayed`` (the raw topic's message count) stands for the replay's
        own count once it has exited, ``lags`` (from Kafka's offsets) for the stages' lag gauges: Spark
        reports its lag only between micro-batches, so a long batch would show none."""
        v = LiveView(elapsed=elapsed)
        for stage, (in_metrics, out_metric, lag_metric) in STAGE_METRICS.items():
            if stage not in self.urls:
                continue
            s = self.seen.get(stage)  # a stage that finished keeps its last figures
            sv = StageView(stage, state=states.get(stage, "?"))
            sv.alerts_out = total(s, out_metric)
            sv.alerts_in = sum(total(s, m) for m in in_metrics) if in_metrics else sv.alerts_out
            sv.rate = self.rate(stage)
            sv.lag = total(s, lag_metric) if lag_metric and s else None
            if stage == "replay" and replayed is not None:
                sv.alerts_in = sv.alerts_out = replayed
            if lags and stage in lags:
                sv.lag = lags[stage]
            v.stages.append(sv)
        xm = self.seen.get("crossmatch")
        v.latency_p50, v.latency_p99 = quantile(xm, LATENCY, 0.5), quantile(xm, LATENCY, 0.99)
        v.mix = by_label(xm, "msb_crossmatch_classifications_total", "classification")
        v.dead_letters = total(self.seen.get("stream"), "msb_stream_dead_letters_total")
        return v
