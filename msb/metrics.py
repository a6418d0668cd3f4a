"""Prometheus metrics: one registry per component, built by one factory, served over HTTP.

Names are ``msb_<component>_<thing>[_<unit>]``: the factory sets the namespace (``msb``), the
subsystem (the component) and the unit suffix; counters get ``_total`` from the client, never by
hand. A registry per component instance (rather than the global one) lets several run in one
process, as tests do. Dashboards, alert rules and ``msb run``'s dashboard query these names.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

NAMESPACE = "msb"
COMPONENTS = ("replay", "stream", "crossmatch")
# Base units (Prometheus practice) plus the rates and counts the dashboards read.
UNITS = ("seconds", "bytes", "messages", "rows", "ratio", "rows_per_second")
# End-to-end latencies live at 5-120 s (a 10 s target, Rubin's 60 s promise): finer there, so a
# quantile interpolated inside a bucket stays near the truth (10-30 s in one bucket showed an 11 s p50 as 19 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 12.5, 15, 20,
                   25, 30, 45, 60, 90, 120)


class MetricFactory:
    """Builds one component's Counters, Gauges and Histograms in its own registry."""

    def __init__(self, component: str, registry: CollectorRegistry | None = None) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"metrics component {component!r}: one of {', '.join(COMPONENTS)}")
        self.component = component
        self.registry = registry or CollectorRegistry()

    def _names(self, thing: str, unit: str) -> dict[str, str]:
        if thing.endswith("_total"):
            raise ValueError(f"metric {thing!r}: the client adds _total to counters")
        if unit and unit not in UNITS:
            raise ValueError(f"metric {thing!r}: unit {unit!r} is not one of {', '.join(UNITS)}")
        return {"name": thing, "namespace": NAMESPACE, "subsystem": self.component, "unit": unit}

    def counter(self, thing: str, doc: str, labels: Sequence[str] = (), unit: str = "") -> Counter:
        return Counter(documentation=doc, labelnames=labels, registry=self.registry, **self._names(thing, unit))

    def gauge(self, thing: str, doc: str, labels: Sequence[str] = (), unit: str = "") -> Gauge:
        return Gauge(documentation=doc, labelnames=labels, registry=self.registry, **self._names(thing, unit))

    def histogram(self, thing: str, doc: str, buckets: Sequence[float], labels: Sequence[str] = (),
                  unit: str = "seconds") -> Histogram:
        return Histogram(documentation=doc, labelnames=labels, buckets=buckets, registry=self.registry,
                         **self._names(thing, unit))


def serve(registry: CollectorRegistry, port: int | None, addr: str = "0.0.0.0") -> int | None:
    """Serves ``/metrics`` for the registry on ``port`` (0 = any free port); returns the port."""
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server.server_address[1]
