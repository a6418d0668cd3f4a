"""Prometheus metrics: one registry per component, served over HTTP on a chosen port.

Names follow ``msb_<component>_<thing>_<unit>``, counters end in ``_total``. A registry per
component instance (rather than the global one) lets several run in one process, as tests do.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def serve(registry: CollectorRegistry, port: int | None, addr: str = "0.0.0.0") -> int | None:
    """Serves ``/metrics`` for the registry on ``port`` (0 = any free port); returns the port."""
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server.server_address[1]
