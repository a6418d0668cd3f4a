"""Helpers for the Kubernetes tests: render the chart with the real Helm engine, load the CRD
schemas from ../shared/k8s-schemas, and pull metric names out of PromQL."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from msb import paths

REPO = paths.REPO_ROOT
CHART = REPO / "charts" / "msb"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# The kind node image pinned in k8s/kind-config.yaml; a current Kubernetes.
KUBE_VERSION = "1.34.0"
RELEASE = "msb"
NAMESPACE = "msb"

# Every metric the components export (the contract in the component issues).
COMPONENT_METRICS = {
    "replay": {
        "msb_replay_alerts_sent_total", "msb_replay_bytes_sent_total", "msb_replay_visits_sent_total",
        "msb_replay_files_skipped_total", "msb_replay_delivery_failures_total",
        "msb_replay_delivery_latency_seconds",
    },
    "stream": {
        "msb_stream_input_rows_total", "msb_stream_processed_rows_total", "msb_stream_input_rows_per_second",
        "msb_stream_processed_rows_per_second", "msb_stream_batches_total", "msb_stream_batch_duration_seconds",
        "msb_stream_quality_passed_total", "msb_stream_filter_alerts_total", "msb_stream_dead_letters_total",
        "msb_stream_partition_lag_messages", "msb_stream_end_to_end_latency_seconds", "msb_stream_executors",
    },
    "crossmatch": {
        "msb_crossmatch_alerts_classified_total", "msb_crossmatch_classifications_total",
        "msb_crossmatch_matches_total", "msb_crossmatch_hit_rate_ratio", "msb_crossmatch_batch_duration_seconds",
        "msb_crossmatch_consumer_lag_messages", "msb_crossmatch_catalog_rows",
        "msb_crossmatch_catalog_load_seconds", "msb_crossmatch_end_to_end_latency_seconds",
    },
}
HISTOGRAMS = {
    "msb_replay_delivery_latency_seconds", "msb_stream_batch_duration_seconds",
    "msb_stream_end_to_end_latency_seconds", "msb_crossmatch_batch_duration_seconds",
    "msb_crossmatch_end_to_end_latency_seconds",
}
# Metrics that only exist on a cluster; the local pipeline cannot produce them.
CLUSTER_ONLY_METRICS = {
    "kafka_consumergroup_lag": "Strimzi's Kafka exporter, from committed consumer-group offsets on Strimzi Kafka",
    "kafka_server_brokertopicmetrics_messagesinpersec_total":
        "the JMX Prometheus exporter inside Strimzi's Kafka brokers (the local tansu broker has no JMX)",
    "metrics_executor_memoryUsed_bytes":
        "Spark's executor metrics on the driver UI (spark.ui.prometheus.enabled), set by the chart only",
}
ALL_COMPONENT_METRICS = set().union(*COMPONENT_METRICS.values())


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def variants(*extra: Path) -> list[Any]:
    """pytest params: the chart's defaults (None), every ci/*-values.yaml, then `extra` values files."""
    import pytest

    return [pytest.param(None, id="defaults")] + [pytest.param(p, id=p.stem) for p in (*CI_VALUES, *extra)]


def values_of(path: Path | None) -> dict[str, Any]:
    """The values of a variant (None: the chart's defaults)."""
    return load_yaml(path) if path else {}


@cache
def _chart() -> Any:
    import helm_python

    return helm_python.Chart.load(str(CHART))


def render(values: dict[str, Any] | None = None, release: str = RELEASE) -> list[dict[str, Any]]:
    """The chart rendered by Helm's engine, as a list of Kubernetes objects."""
    rendered = _chart().render(values or {}, name=release, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {})
                doc["__template__"] = path
                docs.append(doc)
    return docs


def notes(values: dict[str, Any] | None = None) -> str:
    rendered = _chart().render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return next(t for p, t in rendered.items() if p.endswith("NOTES.txt"))


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "__template__"}


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"].get("name") == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata'].get('name') for d in found]}"
    return found[0]


def spark_defaults(docs: list[dict[str, Any]], name: str = "msb-stream-conf") -> dict[str, str]:
    """The driver's spark-defaults.conf (the chart's one owner of the Spark settings) as a dict."""
    text = one(docs, "ConfigMap", name)["data"]["spark-defaults.conf"]
    return dict(line.split(" ", 1) for line in text.splitlines() if line.strip())


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


# ------------------------------------------------------------------------------- CRD schemas


def _strict(node: Any) -> Any:
    """Rejects unknown fields wherever the CRD lists properties and does not preserve unknowns
    (the API server prunes such fields silently; we want them to fail the test instead)."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict openAPIV3Schema for every CRD in ../shared/k8s-schemas."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((paths.shared_dir() / "k8s-schemas").rglob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server itself, not by the CRD.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                out[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return out


# ------------------------------------------------------------------------------- PromQL

_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan", "le",
}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (functions, keywords, labels and ranges dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = m.group(0)
        following = text[m.end():].lstrip()[:1]
        if following == "(" or word.lower() in _PROMQL_WORDS or word.startswith("$"):
            continue
        if m.start() > 0 and text[m.start() - 1] == "$":
            continue  # a Grafana variable such as $__rate_interval
        names.add(word)
    return names


def base_metric(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def grafana_to_promql(expr: str, range_seconds: int = 300) -> str:
    """Replaces Grafana's variables with values Prometheus accepts."""
    return (
        expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", f"{range_seconds}s")
    )


def _top_level_split(expr: str) -> list[str]:
    """Splits at `and`/`unless`/`or` outside parentheses: `(A or vector(0)) < 1` stays whole."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"[()]|\s+(?:and|unless|or)\s+", expr):
        token = m.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            parts.append(expr[start:m.start()])
            start = m.end()
    return [*parts, expr[start:]]


def probe_expressions(expr: str) -> list[str]:
    """The signals of an alert expression, each returning data whenever its metrics exist.

    `A > 5 and B == 0` becomes [`A > bool 5`, `B == bool 0`]: a healthy pipeline does not fire the
    alert, yet each signal must still be computable from scraped data.
    """
    parts = _top_level_split(expr)
    out = []
    for part in parts:
        part = re.sub(r"(==|!=|>=|<=|>|<)\s*(?!bool)(-?[0-9.]+)\s*$", r"\1 bool \2", part.strip())
        out.append(part)
    return out


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((CHART / "dashboards").glob("*.json"))}


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every target of every panel of every dashboard."""
    out = []
    for name, dash in dashboards().items():
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{name}: {panel['title']} [{target['refId']}]", target["expr"]))
    return out


def rule_exprs(docs: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """(alert, expr) for every rule of the rendered PrometheusRules (defaults)."""
    docs = docs if docs is not None else render()
    out = []
    for rule_doc in find(docs, "PrometheusRule"):
        for group in rule_doc["spec"]["groups"]:
            for rule in group["rules"]:
                out.append((rule.get("alert") or rule.get("record"), rule["expr"]))
    return out
