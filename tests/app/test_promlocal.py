"""``msb run --prometheus``: a real Prometheus scraping a stage's /metrics, with the chart's rules loaded."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from msb.broker import free_port
from msb.metrics import serve
from msb_app.promlocal import prometheus_stage

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")


def _get(url: str) -> Any:
    try:
        return json.loads(urllib.request.urlopen(url, timeout=2).read())
    except OSError:
        return None


def test_scrapes_the_stages_with_the_charts_rules(tmp_path: Path) -> None:
    r = CollectorRegistry()
    Counter("msb_replay_alerts_sent", "", ["topic"], registry=r).labels("raw").inc(42)
    port = serve(r, 0, "127.0.0.1")
    stage, url, note = prometheus_stage(tmp_path, {"replay": f"127.0.0.1:{port}"}, free_port())
    assert "rules" in note
    stage.start()
    try:
        deadline = time.monotonic() + 60
        value = None
        while value is None and time.monotonic() < deadline:
            res = _get(f"{url}/api/v1/query?query=sum(msb_replay_alerts_sent_total)")
            if res and res["data"]["result"]:
                value = float(res["data"]["result"][0]["value"][1])
            time.sleep(0.5)
        assert value == 42
        rules = _get(f"{url}/api/v1/rules")
        names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"MsbStreamLagGrowing", "MsbCrossmatchLagGrowing", "MsbNoAlertProcessed"} <= names
    finally:
        stage.stop(grace=10)
    assert not stage.running()
