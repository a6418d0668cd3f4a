"""Confluent wire-format alerts with schemas from a schema registry (a real local HTTP server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from msb import paths
from msb.avro import AlertDecodeError, AlertDecoder, SchemaStore, frame_confluent


@pytest.fixture
def registry() -> Iterator[tuple[str, list[str]]]:
    """Answers GET /schemas/ids/1000 with Rubin's v10.0 schema, like a Confluent registry; logs requests."""
    schema = (paths.shared_dir() / "data/lsst/lsst_alert_v10_0_combined.avsc").read_text()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            requests.append(self.path)
            if self.path == "/schemas/ids/1000":
                body, status = json.dumps({"schema": schema}).encode(), 200
            else:
                body, status = b'{"error_code": 40403, "message": "Schema not found"}', 404
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_schemas_come_from_the_registry_once(registry, rubin_dir: Path) -> None:
    url, requests = registry
    local = AlertDecoder(SchemaStore(paths.rubin_schemas()))
    remote = AlertDecoder(SchemaStore(registry_url=url))
    for path in sorted(rubin_dir.glob("*.avro")):
        _, datum = local.writer_schema(path.read_bytes())
        assert remote.decode(frame_confluent(1000, datum)) == local.decode(path.read_bytes())
    assert requests == ["/schemas/ids/1000"]  # fetched once, then cached


def test_unknown_id_at_the_registry_is_named(registry) -> None:
    url, _ = registry
    with pytest.raises(AlertDecodeError, match=r"unknown schema id 7 \(registry http://127\.0\.0\.1:\d+ has none\)"):
        AlertDecoder(SchemaStore(registry_url=url)).decode(frame_confluent(7, b"\x02"))


def test_unreachable_registry_is_named() -> None:
    with pytest.raises(AlertDecodeError, match="schema registry http://127.0.0.1:9 unreachable"):
        AlertDecoder(SchemaStore(registry_url="http://127.0.0.1:9")).decode(frame_confluent(1000, b"\x02"))
