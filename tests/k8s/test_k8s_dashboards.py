"""Grafana dashboards and alert rules name only metrics that msb's components export (or that a
cluster provides, listed with a reason in k8s_support.CLUSTER_ONLY_METRICS)."""

from __future__ import annotations

import json

import pytest
from k8s_support import (
    ALL_COMPONENT_METRICS,
    CHART,
    CLUSTER_ONLY_METRICS,
    base_metric,
    dashboard_exprs,
    dashboards,
    metric_names,
    probe_expressions,
    render,
    rule_exprs,
)


def test_dashboards_are_valid_json() -> None:
    for path in (CHART / "dashboards").glob("*.json"):
        dash = json.loads(path.read_text())
        assert dash["uid"] and dash["title"] and dash["panels"], path.name
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
            assert panel["targets"], panel["title"]


def test_required_panels() -> None:
    titles = " | ".join(p["title"].lower() for d in dashboards().values() for p in d["panels"])
    for needle in ("alert rate per stage", "lag", "batch duration", "end-to-end latency", "per filter",
                   "classification mix", "executors"):
        assert needle in titles, needle
    exprs = " ".join(e for _, e in dashboard_exprs())
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.99," in exprs


def test_required_rules() -> None:
    alerts = {name for name, _ in rule_exprs()}
    assert {"MsbStreamLagGrowing", "MsbNoAlertProcessed", "MsbCrossmatchHitRateZero",
            "MsbDeadLettersRising"} <= alerts


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job="x"}[$__rate_interval]))) > bool 1'
    assert metric_names(expr) == {"a_seconds_bucket"}
    assert metric_names("sum by (filter) (increase(b_total[10m])) == 0 and max(c) < 1") == {"b_total", "c"}
    assert probe_expressions("sum(a) > 1000 and deriv(sum(a)[10m:]) > 0") == [
        "sum(a) > bool 1000", "deriv(sum(a)[10m:]) > bool 0"]


@pytest.mark.parametrize("where,expr", dashboard_exprs() + rule_exprs(render()))
def test_every_metric_is_known(where: str, expr: str) -> None:
    names = {base_metric(n) for n in metric_names(expr)}
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - ALL_COMPONENT_METRICS - set(CLUSTER_ONLY_METRICS)
    assert not unknown, f"{where}: {sorted(unknown)} is exported by no msb component"


def test_cluster_only_metrics_are_used_and_explained() -> None:
    used = {base_metric(n) for _, e in dashboard_exprs() + rule_exprs(render()) for n in metric_names(e)}
    for name, reason in CLUSTER_ONLY_METRICS.items():
        assert name in used, f"{name} is listed as cluster-only but no panel or rule uses it"
        assert len(reason) > 20
