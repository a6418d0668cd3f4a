"""The Prometheus harness against a real `prometheus` server and a small exporter started here:
every dashboard and rule expression is accepted by Prometheus and returns data when the metrics
the components promise are there (the full pipeline test does the same with the real components)."""

from __future__ import annotations

import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from k8s_support import (
    CLUSTER_ONLY_METRICS,
    COMPONENT_METRICS,
    HISTOGRAMS,
    base_metric,
    dashboard_exprs,
    find,
    grafana_to_promql,
    metric_names,
    probe_expressions,
    render,
    rule_exprs,
)
from prom_harness import PrometheusServer, free_port, prometheus_binary

pytestmark = pytest.mark.skipif(prometheus_binary() is None,
                                reason="Debian's prometheus is not installed (.ci/system-deps.sh)")

LABELS = {
    "msb_stream_filter_alerts_total": {"filter": ["known_sso", "is_transient"]},
    "msb_crossmatch_classifications_total": {"classification": ["Unknown", "Star"]},
    "msb_crossmatch_matches_total": {"catalog": ["gaia", "vsx"]},
    "msb_crossmatch_hit_rate_ratio": {"catalog": ["gaia", "vsx"]},
    "msb_crossmatch_catalog_rows": {"catalog": ["gaia", "vsx"]},
    "msb_crossmatch_catalog_load_seconds": {"catalog": ["gaia", "vsx"]},
    "msb_stream_partition_lag_messages": {"topic": ["raw"], "partition": ["0", "1"]},
    "msb_crossmatch_consumer_lag_messages": {"partition": ["0", "1"]},
}


class SyntheticExporter:
    """A prometheus_client server exposing every metric the components promise, kept moving."""

    def __init__(self, metrics: set[str]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.port = free_port()
        self.children: list[tuple[str, object]] = []
        for name in sorted(metrics):
            labels = LABELS.get(name, {})
            names = list(labels)
            if name in HISTOGRAMS:
                metric: object = Histogram(name, name, names, registry=self.registry)
                kind = "histogram"
            elif name.endswith("_total"):
                metric = Counter(name.removesuffix("_total"), name, names, registry=self.registry)
                kind = "counter"
            else:
                metric = Gauge(name, name, names, registry=self.registry)
                kind = "gauge"
            combos: list[dict[str, str]] = [{}]
            for key, values in labels.items():
                combos = [dict(c, **{key: v}) for c in combos for v in values]
            for combo in combos:
                self.children.append((kind, metric.labels(**combo) if combo else metric))  # type: ignore[attr-defined]
        self._stop = threading.Event()

    def tick(self) -> None:
        for kind, child in self.children:
            if kind == "histogram":
                child.observe(random.uniform(0.01, 2.0))  # type: ignore[attr-defined]
            elif kind == "counter":
                child.inc(random.randint(1, 10))  # type: ignore[attr-defined]
            else:
                child.set(random.uniform(0.1, 100))  # type: ignore[attr-defined]

    def __enter__(self) -> SyntheticExporter:
        from prometheus_client import start_http_server

        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.ticker = threading.Thread(target=self._run, daemon=True)
        self.ticker.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.tick()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.ticker.join(timeout=2)
        self.server.shutdown()
        self.server.server_close()


def _rules_file(tmp_path: Path) -> Path:
    groups = [g for r in find(render(), "PrometheusRule") for g in r["spec"]["groups"]]
    path = tmp_path / "msb-rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


def test_rules_pass_promtool(tmp_path: Path) -> None:
    out = subprocess.run(["promtool", "check", "rules", str(_rules_file(tmp_path))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def prometheus_with_exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    tmp = tmp_path_factory.mktemp("prom")
    metrics = set().union(*COMPONENT_METRICS.values())
    with SyntheticExporter(metrics) as exporter:
        exporter.tick()
        targets = {"synthetic": [f"127.0.0.1:{exporter.port}"]}
        with PrometheusServer(targets, tmp, rule_files=[_rules_file(tmp)]) as prom:
            prom.wait_for_targets(scrapes=4)
            yield prom


def test_harness_scrapes_and_queries(prometheus_with_exporter: PrometheusServer) -> None:
    prom = prometheus_with_exporter
    up = prom.query("up")
    assert up and all(float(s["value"][1]) == 1 for s in up)
    assert float(prom.query("sum(msb_replay_alerts_sent_total)")[0]["value"][1]) > 0
    # The chart's rules loaded and evaluated by the server itself.
    rules = prom.rules()
    assert {r["name"] for r in rules} >= {"MsbStreamLagGrowing", "MsbDeadLettersRising"}
    assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]


def _local(expr: str) -> bool:
    return not ({base_metric(n) for n in metric_names(expr)} & set(CLUSTER_ONLY_METRICS))


@pytest.mark.parametrize("where,expr", [p for p in dashboard_exprs() if _local(p[1])])
def test_dashboard_expression_returns_data(prometheus_with_exporter: PrometheusServer, where: str,
                                           expr: str) -> None:
    result = prometheus_with_exporter.query(grafana_to_promql(expr, range_seconds=60))
    assert result, f"{where}: no data for {expr}"


@pytest.mark.parametrize("where,expr", [p for p in rule_exprs() if _local(p[1])])
def test_rule_signals_return_data(prometheus_with_exporter: PrometheusServer, where: str, expr: str) -> None:
    for probe in probe_expressions(expr):
        assert prometheus_with_exporter.query(probe), f"{where}: no data for {probe}"


@pytest.mark.parametrize("where,expr", [p for p in dashboard_exprs() + rule_exprs() if not _local(p[1])])
def test_cluster_only_expressions_parse(prometheus_with_exporter: PrometheusServer, where: str, expr: str) -> None:
    """Expressions on cluster-only metrics cannot return data here, but Prometheus must accept them."""
    prometheus_with_exporter.query(grafana_to_promql(expr))


def _rule_expr(name: str) -> str:
    rules = [r for doc in find(render(), "PrometheusRule") for g in doc["spec"]["groups"] for r in g["rules"]]
    return next(r["expr"] for r in rules if r.get("alert") == name)


DRIVER_DOWN_RULES = ("MsbStreamDown", "MsbStreamNoExecutors", "MsbNoAlertProcessed")


def test_stream_rules_fire_when_the_driver_is_down(tmp_path: Path) -> None:
    """The driver down exports no msb_stream_* series at all: the rules watching it must still fire
    (a rule on `max(msb_stream_executors) < 1` alone never would), while the replay keeps sending."""
    metrics = set().union(*(m for component, m in COMPONENT_METRICS.items() if component != "stream"))
    assert not any(m.startswith("msb_stream_") for m in metrics)
    with SyntheticExporter(metrics) as exporter:
        exporter.tick()
        with PrometheusServer({"no-stream": [f"127.0.0.1:{exporter.port}"]}, tmp_path) as prom:
            prom.wait_for_targets(scrapes=4)
            for name in DRIVER_DOWN_RULES:
                assert prom.query(_rule_expr(name)), f"{name} would not fire with the driver down"


def test_stream_down_rules_quiet_when_the_driver_is_up(prometheus_with_exporter: PrometheusServer) -> None:
    assert not prometheus_with_exporter.query(_rule_expr("MsbStreamDown"))
