"""`msb stream --master k8s://...` as a user runs the driver by hand: it reaches Spark's Kubernetes
backend (the pinned pyspark's jars carry it) and, with no API server answering, says so in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from msb.broker import EmbeddedBroker, free_port


def test_kubernetes_master_without_an_api_server_is_one_clear_error(
    broker: EmbeddedBroker, topic: str, tmp_path: Path
) -> None:
    api = f"k8s://https://127.0.0.1:{free_port()}"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "msb.cli", "stream", "--bootstrap", broker.bootstrap, "--topic", topic,
         "--archive", str(tmp_path / "archive"), "--checkpoint", str(tmp_path / "checkpoint"),
         "--available-now", "--metrics-port", "0", "--master", api,
         "--image", "msb-stream:dev", "--namespace", "msb", "--executors", "1"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"msb stream: Spark could not start on master {api}: "), last
    assert "Connection refused" in last, last
    assert "Traceback" not in proc.stderr
