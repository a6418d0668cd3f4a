"""`make lab`: broker, looping replay and JupyterLab come up together, the URL it prints answers, the
replay feeds topic raw, and Ctrl-C stops all three."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from msb import paths
from msb.broker import free_port

BOOTCAMP = paths.REPO_ROOT / "bootcamp"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def raw_messages(bootstrap: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bootcamp-lab-test"})
    try:
        meta = c.list_topics("raw", timeout=5).topics.get("raw")
        if meta is None or not meta.partitions:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition("raw", p), timeout=5)[1] for p in meta.partitions)
    finally:
        c.close()


def test_make_lab_starts_and_stops_everything(tmp_path: Path) -> None:
    kafka_port, lab_port = free_port(), free_port()
    env = {**os.environ, "LAB_KAFKA_PORT": str(kafka_port), "LAB_PORT": str(lab_port), "OUT": str(tmp_path)}
    env.pop("MSB_DATA", None)
    proc = subprocess.Popen(["bash", str(BOOTCAMP / "lab.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url, seen = None, []
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            seen.append(line)
            m = re.search(r"JupyterLab\s+(http://127\.0\.0\.1:\d+/lab\?token=\w+)", line)
            url = m[1] if m else None
        assert url, "".join(seen)
        assert f":{lab_port}/" in url
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
        token = url.rsplit("=", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{lab_port}/api/kernelspecs?token={token}", timeout=30) as r:
            assert b'"python3"' in r.read()
        bootstrap = f"127.0.0.1:{kafka_port}"
        deadline = time.monotonic() + 60
        while raw_messages(bootstrap) == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assert raw_messages(bootstrap) > 0, "the looping replay fed nothing into topic raw"
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        proc.wait(30)
    deadline = time.monotonic() + 15
    while (listening(kafka_port) or listening(lab_port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening(kafka_port) and not listening(lab_port), "make lab left a component running"

